"""
Event-driven scheduling on new Cincopa assets: :class:`CincopaAssetEventTrigger` for an ``AssetWatcher``.

How "new" is decided. Every asset has a numeric ``id`` besides its ``rid``; it grows with each
upload (the upload host answers ``new resource id <id> <rid>``; monotonic ids are our reading of
that, a guess Cincopa does not document). The cursor is the highest id already handled: an asset
is new when its id is above it. ``modified`` is no cursor: it moves on every metadata edit, so a
DAG that tags the asset it was fired for would fire itself again.

How a poll stays cheap. ``asset.list`` is read newest first and paging stops at the cursor, so a
poll that finds nothing costs one request of :data:`POLL_PAGE_SIZE` items. Cincopa does not
document the order of ``asset.list`` (the emulator lists newest first, a guess): the trigger
checks the order of every page and, should it ever get another one, warns once and reads every
page instead, which is slower but still exact.

One poll for many watchers (Airflow 3.3+). Watchers on the same connection and poll interval
share one unfiltered poll (``shared_stream_key``): its raw events are the new assets of each
poll, and each watcher keeps those matching its own filters. The shared poll cannot ask Cincopa
for one watcher's filters, hence unfiltered; ``tag`` and ``type`` are then matched here, and
``search`` (free text whose exact rules only Cincopa knows) is checked by one ``asset.list``
call of the candidates' rids, made only when new assets arrived.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import Any, TypeVar

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from airflow_provider_cincopa.assets import asset_uri
from airflow_provider_cincopa.exceptions import CincopaAuthError, CincopaInputError, CincopaResponseError
from airflow_provider_cincopa.hooks import _answers
from airflow_provider_cincopa.hooks._transport import TransientError
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.redaction import printable

T = TypeVar("T")

#: Items per ``asset.list`` request of a poll: a poll finding nothing new reads this many.
POLL_PAGE_SIZE = 25
#: Items per request when catching up after a restart or listing every existing asset.
CATCH_UP_PAGE_SIZE = 100
#: The longest pause between two tries while Cincopa is unreachable or failing.
MAX_BACKOFF = 600.0
#: The asset_state_store key prefix; the rest is a digest of the connection and the filters.
CURSOR_KEY_PREFIX = "cincopa_new_assets"

_log = logging.getLogger(__name__)


def asset_id(item: dict[str, Any]) -> int:
    """The numeric ``id`` of an ``asset.list`` item, or a clear error when it has none."""
    found = _answers.number(item.get("id"))
    if found is None:
        raise CincopaResponseError(
            f"An asset.list item has no numeric 'id' (rid {item.get('rid')!r}): cannot tell new assets from old",
            method="asset.list",
        )
    return int(found)


def backoff(interval: float, failures: int, retry_after: float | None = None) -> float:
    """Seconds to wait after ``failures`` failed polls in a row: doubling from ``interval``, jittered."""
    ceiling = max(interval, MAX_BACKOFF)
    delay = min(ceiling, interval * 2 ** min(failures - 1, 20)) * random.uniform(0.75, 1.0)
    return max(delay, min(retry_after, ceiling)) if retry_after else delay


class AssetLister:
    """
    Reads ``asset.list`` newest first for the assets above a cursor.

    :param hook: the hook whose async path (``acall``, the shared client) makes the calls.
    :param filters: ``tag`` / ``type`` / ``search`` passed to Cincopa.
    :param page_size: items per request.
    :param log: where the one warning about an unexpected order goes.
    """

    def __init__(self, hook: CincopaHook, filters: dict[str, str], page_size: int, log: Any) -> None:
        self.hook, self.filters, self.page_size, self.log = hook, filters, page_size, log
        self.newest_first = True  # until a page shows otherwise

    def _check_order(self, ids: list[int]) -> None:
        # Only within a page: uploads between two page requests shift items onto the next page.
        if self.newest_first and any(a <= b for a, b in itertools.pairwise(ids)):
            self.newest_first = False
            self.log.warning("Cincopa's asset.list is not ordered newest first: every poll now reads every page")

    async def head(self) -> int:
        """The highest asset id there is now (0 for an empty account); one request when ordered."""
        items, pages = await self.hook.alist_assets_page(page=1, items_per_page=self.page_size, **self.filters)
        ids = [asset_id(item) for item in items]
        self._check_order(ids)
        if self.newest_first or pages <= 1:
            return max(ids, default=0)
        return (await self.newer(None))[1]

    async def newer(self, after: int | None) -> tuple[list[dict[str, Any]], int]:
        """
        The assets whose id is above ``after`` (every asset when None), oldest first, and the highest id seen.

        :param after: the cursor.
        """
        found: dict[int, dict[str, Any]] = {}
        head, page = after or 0, 1
        while True:
            items, pages = await self.hook.alist_assets_page(page=page, items_per_page=self.page_size, **self.filters)
            ids = [asset_id(item) for item in items]
            self._check_order(ids)
            for number, item in zip(ids, items, strict=True):
                head = max(head, number)
                if after is None or number > after:
                    found[number] = item
            if not items or page >= pages or (self.newest_first and after is not None and ids[-1] <= after):
                return [found[number] for number in sorted(found)], head
            page += 1


async def poll_new_assets(
    cincopa_conn_id: str, poll_interval: float, filters: dict[str, str], log: Any
) -> AsyncIterator[dict[str, Any]]:
    """
    Poll forever; yield one raw event per poll: ``{"after", "settled", "head", "items", "filters"}``.

    ``items`` are the assets with an id in ``(after, head]`` as they are now, oldest first.
    Those up to ``settled`` were already there at the previous poll: an asset is judged only
    then, so that tags or a caption set just after the upload (an upload operator sets them in
    a second call; people type them in after dropping the file) are there when it is. ``after``
    is None on the first poll, which only reads the head (``settled`` = ``head``: what is there
    is not new). Unreachable or failing (5xx, 429, a mangled answer): logged, retried with
    backoff, nothing yielded. A refused token (403) or any other error ends it.
    """
    hook = CincopaHook(cincopa_conn_id=cincopa_conn_id)
    lister = AssetLister(hook, filters, POLL_PAGE_SIZE, log)
    settled: int | None = None
    head: int | None = None
    try:
        while True:
            poll = functools.partial(_one_poll, lister, settled, head)
            raw = await retry_transient(poll, poll_interval, log, f"Polling Cincopa ({cincopa_conn_id})")
            settled, head = raw["settled"], raw["head"]
            yield raw
            await asyncio.sleep(poll_interval)
    finally:
        await hook.aclose()


async def _one_poll(lister: AssetLister, settled: int | None, head: int | None) -> dict[str, Any]:
    if settled is None or head is None:
        now = await lister.head()
        return {"after": None, "settled": now, "head": now, "items": [], "filters": lister.filters}
    # From the previous poll's settled id: what it saw first is read again, fresh, and judged now.
    items, new_head = await lister.newer(settled)
    return {"after": settled, "settled": head, "head": new_head, "items": items, "filters": lister.filters}


async def retry_transient(call: Callable[[], Awaitable[T]], interval: float, log: Any, what: str) -> T:
    """``await call()`` until it does not fail transiently; a refused token is logged and raised."""
    failures = 0
    while True:
        try:
            return await call()
        except TransientError as exc:
            failures += 1
            delay = backoff(interval, failures, exc.retry_after)
            log.warning("%s failed (%d in a row), trying again in %.1f s: %s", what, failures, delay, exc)
            await asyncio.sleep(delay)
        except CincopaAuthError as exc:
            log.error("%s: Cincopa refused the token, the asset watcher stops: %s", what, exc)
            raise


class CincopaAssetEventTrigger(BaseEventTrigger):
    """
    Fire once for each new Cincopa asset matching the filters; for an ``AssetWatcher``.

    Runs as long as the watcher lives. Each event's payload is the asset as ``asset.list``
    returns it (no secret is in there) plus ``uri`` (``cincopa://asset/<rid>``); in the
    triggered DAG it is ``triggering_asset_events[asset][-1].extra["payload"]``.

    Exactly once: the assets there when the watcher first starts do not fire (unless
    ``include_existing``); on Airflow 3.3+ the cursor lives in the watched asset's
    ``asset_state_store``, so an asset created while the triggerer was down fires when it is back,
    and none fires twice across restarts. Before 3.3 the cursor lives in memory: a restarted
    triggerer takes the assets then present as its new starting point (see docs/events.md).

    :param cincopa_conn_id: the Airflow connection with the api_token.
    :param tag: only assets carrying this tag.
    :param type: only assets of this type: ``video``, ``image``, ``audio``...
    :param search: only assets Cincopa's free-text search finds (caption, file name, description).
    :param poll_interval: seconds between two polls.
    :param include_existing: also fire for the assets already there when the watcher first starts.
    """

    def __init__(
        self,
        *,
        cincopa_conn_id: str = CincopaHook.default_conn_name,
        tag: str | None = None,
        type: str | None = None,
        search: str | None = None,
        poll_interval: float = 60.0,
        include_existing: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(poll_interval, bool) or not isinstance(poll_interval, (int, float)) or poll_interval <= 0:
            raise CincopaInputError(f"poll_interval must be a number of seconds > 0, got {poll_interval!r}")
        for name, value in (("tag", tag), ("type", type), ("search", search)):
            if value is not None and not isinstance(value, str):
                raise CincopaInputError(f"{name} must be a string, got {value!r}")
        self.cincopa_conn_id = cincopa_conn_id
        self.tag, self.type, self.search = tag or None, type or None, search or None
        self.poll_interval = float(poll_interval)
        self.include_existing = bool(include_existing)
        self._memory_cursor: int | None = None  # where the cursor lives without an asset_state_store

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs: the connection id, filters and times; never a token."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "cincopa_conn_id": self.cincopa_conn_id,
                "tag": self.tag,
                "type": self.type,
                "search": self.search,
                "poll_interval": self.poll_interval,
                "include_existing": self.include_existing,
            },
        )

    @property
    def filters(self) -> dict[str, str]:
        """The ``asset.list`` filters this watcher applies."""
        named = {"tag": self.tag, "type": self.type, "search": self.search}
        return {name: value for name, value in named.items() if value}

    @property
    def cursor_key(self) -> str:
        """The asset_state_store key: one per connection and filters, so two watchers of one asset keep apart."""
        identity = json.dumps([self.cincopa_conn_id, self.tag, self.type, self.search])
        return f"{CURSOR_KEY_PREFIX}.{hashlib.sha256(identity.encode()).hexdigest()[:16]}"

    # -- Airflow 3.3+: one shared poll per connection and poll interval ------------------------

    def shared_stream_key(self) -> Hashable:
        """Watchers on one connection with one poll interval share a poll, whatever their filters."""
        return ("cincopa-new-assets", self.cincopa_conn_id, self.poll_interval)

    @classmethod
    async def open_shared_stream(cls, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        """The group's one poll: unfiltered, since the group's watchers filter differently."""
        conn_id = kwargs.get("cincopa_conn_id") or CincopaHook.default_conn_name
        async for raw in poll_new_assets(conn_id, float(kwargs.get("poll_interval") or 60.0), {}, _log):
            yield raw

    async def filter_shared_stream(self, shared_stream: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        """This watcher's events from the shared poll's raw ones."""
        async for event in self._events_from(shared_stream):
            yield event

    # -- Airflow 3.0-3.2 (or no sharing): a poll of its own, filtered by Cincopa ------------------

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll Cincopa with this watcher's own filters and fire for each new asset."""
        async for event in self._events_from(
            poll_new_assets(self.cincopa_conn_id, self.poll_interval, self.filters, self.log)
        ):
            yield event

    # -- the cursor ---------------------------------------------------------------------------

    def _accessors(self) -> list[Any]:
        store = self.asset_state_store if hasattr(self, "asset_state_store") else None
        if store is None:
            return []
        # One trigger can watch several assets (identical watchers are one trigger); the
        # accessors object has no public way to list them, and its direct get/set refuse then.
        many = [*getattr(store, "_by_name", {}).values(), *getattr(store, "_by_uri", {}).values()]
        return many or [store]

    async def _load_cursor(self) -> int | None:
        accessors = self._accessors()
        if not accessors:
            return self._memory_cursor
        found = []
        for accessor in accessors:
            value = await accessor.aget(self.cursor_key)
            if isinstance(value, dict) and isinstance(value.get("last_id"), int):
                found.append(value["last_id"])
        # Several assets that disagree: the lowest cursor loses nothing.
        return min(found) if found else None

    async def _save_cursor(self, last_id: int) -> None:
        self._memory_cursor = last_id
        for accessor in self._accessors():
            await accessor.aset(self.cursor_key, {"last_id": last_id})

    # -- raw events to trigger events -----------------------------------------------------------

    async def _events_from(self, raw_events: AsyncIterator[Any]) -> AsyncIterator[TriggerEvent]:
        hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
        own = AssetLister(hook, self.filters, CATCH_UP_PAGE_SIZE, self.log)
        cursor = await self._load_cursor()
        saved = cursor
        self.log.info("Watching Cincopa for new assets %s from asset id %s", self.filters or "(any)", cursor)
        try:
            async for raw in raw_events:
                after, settled, items = raw["after"], int(raw["settled"]), list(raw["items"])
                if cursor is None and not self.include_existing:
                    cursor = settled  # the first poll ever: what is there now is not new
                elif cursor is None or after is None or after > cursor:
                    # The raw event does not reach back to our cursor (first start with
                    # include_existing, a restart, a late join): list from the cursor ourselves.
                    catch_up = functools.partial(own.newer, cursor)
                    items, _ = await retry_transient(catch_up, self.poll_interval, self.log, "Catching up on Cincopa")
                elif raw.get("filters") != self.filters:
                    items = await self._matching([i for i in items if cursor < asset_id(i) <= settled], hook)
                for item in items:
                    number = asset_id(item)
                    if (cursor is not None and number <= cursor) or number > settled:
                        continue  # done already, or too new to judge: the next poll will
                    rid = str(item.get("rid") or "")
                    try:
                        uri = asset_uri(rid)
                    except ValueError:  # no Airflow Asset can name it: say so once, and move on
                        self.log.warning("Cincopa asset id %s has no usable rid (%s): no event", number, printable(rid))
                    else:
                        self.log.info("New Cincopa asset %s (id %s, %s)", rid, number, printable(item.get("filename")))
                        yield TriggerEvent({**item, "rid": rid, "uri": uri})
                    # Saved at once: the asset never fires again, even if the triggerer dies now.
                    cursor = saved = number
                    await self._save_cursor(number)
                cursor = max(cursor or 0, settled)
                if cursor != saved:
                    saved = cursor
                    await self._save_cursor(cursor)
        finally:
            await hook.aclose()

    async def _matching(self, items: list[dict[str, Any]], hook: CincopaHook) -> list[dict[str, Any]]:
        """The unfiltered shared poll's new assets that pass this watcher's filters."""
        kept = [
            item
            for item in items
            if (not self.type or item.get("type") == self.type)
            and (not self.tag or self.tag.strip() in (t.strip() for t in str(item.get("tags") or "").split(",")))
        ]
        if not self.search or not kept:
            return kept

        async def found_by_search() -> set[str]:
            rids = [str(item.get("rid")) for item in kept]
            listed, _ = await hook.alist_assets_page(rid=rids, search=self.search, items_per_page=len(rids))
            return {str(item.get("rid")) for item in listed}

        # Only Cincopa knows what its free-text search matches: ask it about these rids.
        hits = await retry_transient(found_by_search, self.poll_interval, self.log, "Checking the search filter")
        return [item for item in kept if str(item.get("rid")) in hits]
