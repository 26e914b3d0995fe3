"""
Answers that come in more than one plausible shape, each read in one place.

Cincopa's reference types some answer fields loosely or not at all (``webhook.list``'s
``webhooks`` is "Array of arrays" whose items the text calls "webhook objects"; ``tag_cloud`` is
"a structured list" in the REST doc and a tag-to-count mapping on the wire-protocol page, marked
weak). Each reader below accepts every shape that is cheap to accept, and logs a warning naming
the method and the shape when an answer fits none of them, instead of failing a pipeline on a
field it did not need. docs/api-coverage.md lists which shapes are documented and which are ours.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow_provider_cincopa.redaction import register_secret

log = logging.getLogger(__name__)

#: Keys a tag item may name its tag and its count with (guess: no item shape is documented).
_TAG_NAME_KEYS = ("tag", "name", "title", "value", "text")
_TAG_COUNT_KEYS = ("count", "total", "num", "assets", "items_count", "weight")


def number(value: Any, kind: type[int] | type[float] = int) -> Any:
    """
    An integer (or a ``kind``) from a number or a numeric string (Cincopa sends both), else None.

    The one number parser of the package: answers, upload results, status fields, asset ids.

    :param value: what the answer held.
    :param kind: ``int`` (default) or ``float``.
    """
    if isinstance(value, bool):  # JSON true is no number, though Python counts it as 1
        return None
    try:
        return kind(float(value))
    except (TypeError, ValueError, OverflowError):
        return None


def tag_cloud(value: Any) -> dict[str, int | None]:
    """
    ``asset.get_tags``'s ``tag_cloud`` as ``{tag: count}``; count None when Cincopa gave none.

    Accepted: a mapping ``{tag: count}`` (wire-protocol page, weak); a list (REST doc: "a
    structured list") of names, of ``{"tag"|"name": ..., "count": ...}`` objects, or of
    ``[name, count]`` pairs (our guesses at the list's items). A name listed twice keeps the
    larger count.
    """
    if value in (None, "", [], {}):
        return {}
    if isinstance(value, Mapping):
        return {str(tag): number(count) for tag, count in value.items() if str(tag).strip()}
    if not isinstance(value, list):
        kind = type(value).__name__
        log.warning("asset.get_tags: tag_cloud is a %s, neither a mapping nor a list; no tags read", kind)
        return {}
    tags: dict[str, int | None] = {}
    skipped = 0
    for item in value:
        name, count = _tag_item(item)
        if not name:
            skipped += 1
            continue
        known = tags.get(name)
        tags[name] = count if known is None else max(known, count or 0)
    if skipped:
        log.warning("asset.get_tags: skipped %d tag_cloud item(s) of no known shape", skipped)
    return tags


def _tag_item(item: Any) -> tuple[str, int | None]:
    if isinstance(item, str):
        return item.strip(), None
    if isinstance(item, Mapping):
        name = next((str(item[k]).strip() for k in _TAG_NAME_KEYS if item.get(k) not in (None, "")), "")
        count = next((number(item[k]) for k in _TAG_COUNT_KEYS if item.get(k) not in (None, "")), None)
        return name, count
    if isinstance(item, (list, tuple)) and item and isinstance(item[0], str):
        return item[0].strip(), number(item[1]) if len(item) > 1 else None
    return "", None


def webhooks(value: Any) -> list[dict[str, Any]]:
    """
    ``webhook.list``'s ``webhooks`` as a list of dicts with at least ``hook_url``.

    Accepted: objects (what the REST doc's text calls them, and what the provider read before);
    arrays (the doc's type, "Array of arrays"), read positionally: ``hook_url`` is the first
    element that looks like a URL (else the first element) and ``events`` the element after it;
    every element is kept under ``values``, as the positions are our guess; bare URL strings; a
    mapping keyed by hook_url. A ``security_key`` found in an object is registered as a secret.
    """
    if value in (None, "", [], {}):
        return []
    if isinstance(value, Mapping):
        value = [{"hook_url": url, **item} if isinstance(item, Mapping) else [url, item] for url, item in value.items()]
    if not isinstance(value, list):
        log.warning("webhook.list: webhooks is a %s, not a list; no webhooks read", type(value).__name__)
        return []
    found: list[dict[str, Any]] = []
    for item in value:
        hook = _webhook_item(item)
        if hook is None:
            log.warning("webhook.list: skipped a webhook item of no known shape (a %s)", type(item).__name__)
        else:
            found.append(hook)
    return found


def _webhook_item(item: Any) -> dict[str, Any] | None:
    if isinstance(item, Mapping):
        register_secret(str(item.get("security_key") or ""))
        return dict(item) if item.get("hook_url") else None
    if isinstance(item, str) and item.strip():
        return {"hook_url": item.strip()}
    if isinstance(item, (list, tuple)) and item:
        values = list(item)
        strings = [i for i, v in enumerate(values) if isinstance(v, str) and v.strip()]
        if not strings:
            return None
        where = next((i for i in strings if "://" in values[i]), strings[0])
        hook: dict[str, Any] = {"hook_url": values[where], "values": values}
        if where + 1 < len(values):
            hook["events"] = values[where + 1]
        return hook
    return None


def webhook_named(hooks: list[dict[str, Any]], hook_url: str) -> bool:
    """True when a webhook of ``hooks`` has this URL, wherever its array put it."""
    return any(hook.get("hook_url") == hook_url or hook_url in hook.get("values", ()) for hook in hooks)
