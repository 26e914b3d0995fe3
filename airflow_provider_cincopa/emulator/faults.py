"""Fault knobs for reliability tests: errors, dropped connections, latency, bandwidth, bad answers."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

RULE_KINDS = ("fail", "drop", "malformed", "cdn_drop", "cdn_redirect")
KNOBS = frozenset(
    {
        *RULE_KINDS,
        "latency",
        "bandwidth",
        "max_assets",
        "import_rate",
        "stall_final",
        "completed_answer",
        "sync_delay",
        "sync_polls",
        "sync_fail",
        "answer_shapes",
        "cdn_ignore_range",
        "cdn_rate",
    }
)
#: ``(fnmatch pattern, value)`` pairs, first match wins: how ``sync_delay`` and ``sync_polls`` are kept.
PerPattern = tuple[tuple[str, float], ...]
#: What a chunk sent to an upload that already completed is answered (``completed_answer``).
COMPLETED_ANSWERS = ("same", "done", "error")
#: The shapes an answer field can take (``answer_shapes``), the documented one first (the default).
ANSWER_SHAPES: dict[str, tuple[str, ...]] = {
    # REST doc: "Array of arrays" of "webhook objects"; objects are what the emulator always sent.
    "webhook.list": ("objects", "arrays"),
    # Wire-protocol page: tag -> count (weak); REST doc: "a structured list" of unknown items.
    "asset.get_tags": ("mapping", "names", "objects", "pairs"),
}


@dataclass
class Rule:
    """Act on the ``nth`` request whose path starts with ``path_prefix`` (counted from when set), ``times`` times."""

    path_prefix: str = ""
    nth: int = 1
    times: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    seen: int = 0
    fired: int = 0

    def hit(self, path: str) -> bool:
        if not path.startswith(self.path_prefix):
            return False
        self.seen += 1
        if self.seen >= self.nth and self.fired < self.times:
            self.fired += 1
            return True
        return False


class Faults:
    """
    The knobs set by ``POST /_emulator/faults``; thread-safe.

    ``fail``: answer with ``status`` (and ``body``, ``retry_after``) instead of handling;
    ``drop``: read ``after_bytes`` of the body, then abort the TCP connection without an answer
    (with ``after_handling: true``: handle the request fully, then abort instead of answering);
    ``malformed``: answer ``body`` with ``status`` and ``content_type`` instead of handling;
    ``latency``: sleep ``seconds`` before answering paths under ``path_prefix``: before reading the
    request (the default) or, with ``after_body: true``, after the request was read and handled
    (a host that stores a chunk before it answers, or a route's round trip);
    ``bandwidth``: cap on request-body bytes per second per request;
    ``max_assets``: refuse uploads past this many assets; ``import_rate``: bytes/s for URL imports;
    ``stall_final``: seconds the answer to a file's completing chunk is held after the asset was
    created (a client killed meanwhile never sees the rid);
    ``completed_answer``: what a chunk sent to an already completed upload gets: ``same`` (the
    final answer again, rid included; the default), ``done`` (a plain ``chunk done.``) or
    ``error`` (a refusal). Nothing public says which one Cincopa does, so clients must cope with all.
    ``answer_shapes``: ``{method: shape}`` for answers the reference leaves loosely typed
    (:data:`ANSWER_SHAPES`): ``webhook.list`` items as ``objects`` or ``arrays``; ``asset.get_tags``
    ``tag_cloud`` as a ``mapping``, a list of ``names``, of ``objects`` or of ``pairs``.
    CDN knobs (``cdn.py``): ``cdn_drop``: send ``after_bytes`` of a file's body, then abort the
    connection; ``cdn_redirect``: answer ``status`` (302) pointing at the same file on ``to`` (a
    root URL; default the emulator itself); ``cdn_ignore_range``: answer every ``Range`` request
    with the whole file (200); ``cdn_rate``: body bytes per second (a slow CDN).
    ``sync_delay``: seconds an asset stays ``syncstatus: pending`` after it was created or the
    knobs were set, whichever is later; ``sync_polls``: how many ``asset.list`` calls asking for
    it by rid are answered ``pending`` first (each a number, or ``{pattern: number}`` where the
    first ``fnmatch`` pattern matching the rid or file name wins); ``sync_fail``: patterns (or
    one) of assets that then end ``failed`` instead of ``synced`` (``sync.py``).

    ``baseline`` holds the start-up knobs (CLI ``--latency`` etc.): clearing or resetting returns
    to them rather than to nothing, so a quota given on the command line survives test resets.
    """

    def __init__(self, baseline: dict[str, Any] | None = None) -> None:
        self._lock = threading.Lock()
        self.baseline = dict(baseline or {})
        self.clear()

    def clear(self) -> None:
        self._apply(self.baseline)

    def configure(self, knobs: dict[str, Any]) -> None:
        """Replace the runtime knobs; those not named fall back to the baseline."""
        unknown = set(knobs) - KNOBS
        if unknown:
            # A typo ("fails") silently ignored would make a fault test pass for the wrong reason.
            raise ValueError(f"unknown fault knobs: {sorted(unknown)}; known: {sorted(KNOBS)}")
        self._apply({**self.baseline, **knobs})

    def _apply(self, knobs: dict[str, Any]) -> None:
        rules: dict[str, list[Rule]] = {kind: [] for kind in RULE_KINDS}
        for kind in RULE_KINDS:
            for spec in knobs.get(kind) or []:
                spec = dict(spec)
                rules[kind].append(
                    Rule(
                        path_prefix=spec.pop("path_prefix", ""),
                        nth=int(spec.pop("nth", 1)),
                        times=int(spec.pop("times", 1)),
                        options=spec,
                    )
                )
        max_assets = knobs.get("max_assets")
        completed = str(knobs.get("completed_answer") or "same")
        if completed not in COMPLETED_ANSWERS:
            raise ValueError(f"completed_answer must be one of {COMPLETED_ANSWERS}, got {completed!r}")
        shapes = {str(k): str(v) for k, v in dict(knobs.get("answer_shapes") or {}).items()}
        for method, shape in shapes.items():
            if shape not in ANSWER_SHAPES.get(method, ()):
                known = {m: list(s) for m, s in ANSWER_SHAPES.items()}
                raise ValueError(f"answer_shapes: no shape {shape!r} for {method!r}; known: {known}")
        sync_delay = _per_pattern(knobs, "sync_delay", float)
        sync_polls = _per_pattern(knobs, "sync_polls", int)
        sync_fail = knobs.get("sync_fail") or ()
        sync_fail = (sync_fail,) if isinstance(sync_fail, str) else tuple(sync_fail)
        if not all(isinstance(p, str) and p for p in sync_fail):
            raise ValueError(f"sync_fail must be a pattern or a list of patterns, got {knobs.get('sync_fail')!r}")
        with self._lock:
            self.rules = rules
            self.answer_shapes = shapes
            self.latency: dict[str, Any] = dict(knobs.get("latency") or {})
            self.bandwidth = int(knobs.get("bandwidth") or 0)
            self.max_assets: int | None = None if max_assets is None else int(max_assets)
            self.import_rate = int(knobs.get("import_rate") or 0)
            self.stall_final = float(knobs.get("stall_final") or 0)
            self.completed_answer = completed
            self.cdn_ignore_range = bool(knobs.get("cdn_ignore_range"))
            self.cdn_rate = int(knobs.get("cdn_rate") or 0)
            self.sync_delay, self.sync_polls, self.sync_fail = sync_delay, sync_polls, sync_fail
            self.configured_at = time.monotonic()

    def take(self, kind: str, path: str) -> dict[str, Any] | None:
        """The options of the first ``kind`` rule this request triggers, if any."""
        with self._lock:
            for rule in self.rules[kind]:
                if rule.hit(path):
                    return rule.options
        return None

    def shape_of(self, method: str) -> str:
        """The shape ``method``'s answer takes now (``answer_shapes``, else the documented one)."""
        with self._lock:
            return self.answer_shapes.get(method) or ANSWER_SHAPES[method][0]

    def delay_for(self, path: str) -> tuple[float, bool]:
        """The ``latency`` for ``path``: seconds, and whether they come after the body was read."""
        with self._lock:
            if self.latency and path.startswith(self.latency.get("path_prefix", "")):
                return float(self.latency.get("seconds", 0)), bool(self.latency.get("after_body"))
        return 0.0, False

    def sync_knobs(self) -> tuple[PerPattern, PerPattern, tuple[str, ...]]:
        """``sync_delay``, ``sync_polls`` and ``sync_fail``, read together."""
        with self._lock:
            return self.sync_delay, self.sync_polls, self.sync_fail

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": {k: [vars(r) for r in v] for k, v in self.rules.items()},
                "latency": self.latency,
                "bandwidth": self.bandwidth,
                "max_assets": self.max_assets,
                "import_rate": self.import_rate,
                "stall_final": self.stall_final,
                "completed_answer": self.completed_answer,
                "answer_shapes": self.answer_shapes,
                "cdn_ignore_range": self.cdn_ignore_range,
                "cdn_rate": self.cdn_rate,
                "sync_delay": dict(self.sync_delay),
                "sync_polls": dict(self.sync_polls),
                "sync_fail": list(self.sync_fail),
                "baseline": self.baseline,
            }


def _per_pattern(knobs: dict[str, Any], name: str, kind: type[int] | type[float]) -> PerPattern:
    """A number for every asset, or ``{pattern: number}``: as ``(pattern, number)`` pairs."""
    raw = knobs.get(name) or 0
    pairs = raw.items() if isinstance(raw, dict) else [("*", raw)]
    try:
        out = tuple((str(pattern), kind(value)) for pattern, value in pairs)
    except (TypeError, ValueError):
        out = (("*", -1),)
    if any(value < 0 for _, value in out):
        raise ValueError(f"{name} must be a number >= 0 or {{pattern: number}}, got {raw!r}")
    return out
