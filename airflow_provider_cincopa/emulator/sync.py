"""
How an asset gets its versions (``syncstatus`` in ``asset.list``), slowed or failed by knobs.

By default every asset is ``synced`` at once, with its renditions listed, as the media-platform
page's sample shows. The fault knobs ``sync_delay`` (seconds), ``sync_polls`` (``asset.list``
calls asking for the asset by rid), each for every asset or per ``fnmatch`` pattern on the rid or
the file name, and ``sync_fail`` (patterns) keep assets ``pending`` for a while and then end them
``synced`` or ``failed``.

Only ``synced`` is documented: ``pending`` and ``failed`` are the words we guess Cincopa uses, and
a not-yet-synced asset listing only its ``original`` version is a guess too.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_cincopa.emulator.faults import Faults, PerPattern
    from airflow_provider_cincopa.emulator.models import Asset

SYNCED, PENDING, FAILED = "synced", "pending", "failed"

#: Renditions a synced asset other than a video lists besides ``original`` (names from the
#: media-platform sample). A video's are ``cdn.VIDEO_RENDITIONS``, shaped as in that sample.
RENDITIONS = {
    "image": (
        ("jpg_600x450", "600x450", "image/jpeg", ".jpg"),
        ("jpg_200x150", "200x150", "image/jpeg", ".jpg"),
    ),
}


class SyncClock:
    """
    When each asset was created and how often it was polled: what the ``sync_*`` knobs count.

    A delay runs from the asset's creation or from when the knobs were set, whichever is later,
    so a test may upload first and slow the sync afterwards. Polls count ``asset.list`` calls
    that ask for the asset by rid (a sensor's calls), not searches or whole listings.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._born: dict[str, float] = {}
        self._polls: Counter[str] = Counter()

    def clear(self) -> None:
        with self._lock:
            self._born.clear()
            self._polls.clear()

    def born(self, rid: str) -> None:
        with self._lock:
            self._born[rid] = time.monotonic()
            self._polls.pop(rid, None)

    def forget(self, rid: str) -> None:
        with self._lock:
            self._born.pop(rid, None)
            self._polls.pop(rid, None)

    def status(self, asset: Asset, faults: Faults, *, polled: bool) -> str:
        """The asset's ``syncstatus`` now; ``polled`` counts this answer as one of its polls."""
        now = time.monotonic()
        with self._lock:
            # An asset from before a restart has no birth time: it is born when first listed.
            born = self._born.setdefault(asset.rid, now)
            if polled:
                self._polls[asset.rid] += 1
            polls = self._polls[asset.rid]
        delays, wanted, fail = faults.sync_knobs()
        delay, wanted_polls = _first_match(asset, delays), _first_match(asset, wanted)
        started = max(born, faults.configured_at)
        if now - started < delay or (polled and polls <= wanted_polls) or (not polled and polls < wanted_polls):
            return PENDING
        if any(_matches(asset, pattern) for pattern in fail):
            return FAILED
        return SYNCED


def _matches(asset: Asset, pattern: str) -> bool:
    return fnmatchcase(asset.rid, pattern) or fnmatchcase(asset.filename, pattern)


def _first_match(asset: Asset, pairs: PerPattern) -> float:
    return next((value for pattern, value in pairs if _matches(asset, pattern)), 0)
