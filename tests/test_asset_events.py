"""
CincopaAssetEventTrigger run in-process on an event loop, over real HTTP against the emulator:
which assets fire, exactly once, across a restart, what a poll costs, failures, sharing one poll.

Assets are made through the real hook (upload, then ``asset.set_meta``). Where a watcher filters
on a tag, polls are held off with HTTP 503 while the assets are made, so that no poll sees an
asset between its upload and its tagging (tests/test_asset_watcher_deployment.py runs the real
triggerer).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cincopa.exceptions import CincopaAuthError, CincopaInputError
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.triggers.cincopa import CincopaAssetEventTrigger
from airflow_provider_cincopa.triggers.events import CURSOR_KEY_PREFIX, POLL_PAGE_SIZE, AssetLister
from tests.conftest import TOKEN, set_connection
from tests.support import airflow_version, free_port

FAST = 0.2  # seconds between polls


class StateStore:
    """
    A dict standing in for the triggerer's ``AssetStateStoreAccessors`` (the real one talks to the
    triggerer's supervisor process, which does not exist in-process); values go through JSON as
    they would to the database. The deployment test uses the real one.
    """

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))


class Watch:
    """Drain a trigger's event stream in a task; the test reads ``payloads``."""

    def __init__(self, events: AsyncIterator[Any]) -> None:
        self.payloads: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._drain(events))

    async def _drain(self, events: AsyncIterator[Any]) -> None:
        async for event in events:
            self.payloads.append(event.payload)

    @property
    def rids(self) -> list[str]:
        return [p["rid"] for p in self.payloads]

    async def wait_for(self, count: int, timeout: float = 60) -> list[str]:
        await until(lambda: len(self.payloads) >= count or self.task.done(), timeout, f"{count} events")
        if self.task.done():
            self.task.result()  # raises what ended it
        return self.rids

    async def stop(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def until(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (await asyncio.to_thread(condition) if _blocking(condition) else condition()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def _blocking(condition: Callable[[], Any]) -> bool:
    return getattr(condition, "blocking", False)


def blocking(condition: Callable[[], Any]) -> Callable[[], Any]:
    """Mark a condition that makes HTTP calls: ``until`` runs it in a thread."""
    condition.blocking = True  # type: ignore[attr-defined]
    return condition


def list_requests(emulator: Any) -> list[dict[str, Any]]:
    return emulator.requests("/v2/asset.list")


async def wait_polls(emulator: Any, more: int) -> None:
    """Wait until ``more`` further asset.list requests reached the emulator."""
    start = len(await asyncio.to_thread(list_requests, emulator))
    await until(blocking(lambda: len(list_requests(emulator)) >= start + more), 60, f"{more} more polls")


def add_asset(hook: CincopaHook, folder: Path, name: str, **meta: Any) -> str:
    path = folder / name
    path.write_bytes(os.urandom(200))
    rid = hook.upload_file(str(path)).rid
    if meta:
        hook.set_meta(rid, **meta)
    return rid


@contextlib.contextmanager
def polls_held_off(emulator: Any):
    """asset.list answers 503 meanwhile: the assets made inside are complete before any poll sees them."""
    emulator.faults(fail=[{"path_prefix": "/v2/asset.list", "nth": 1, "status": 503, "times": 100_000}])
    try:
        yield
    finally:
        emulator.clear_faults()


# -- which assets fire, and how often ----------------------------------------------------------


@pytest.mark.slow
async def test_existing_assets_do_not_fire_and_each_new_one_fires_once(emulator, hook, tmp_path):
    old = [await asyncio.to_thread(add_asset, hook, tmp_path, f"old{i}.mp4") for i in range(2)]
    watch = Watch(CincopaAssetEventTrigger(poll_interval=FAST).run())
    try:
        await wait_polls(emulator, 2)
        new = [await asyncio.to_thread(add_asset, hook, tmp_path, f"new{i}.mp4") for i in range(3)]
        assert await watch.wait_for(3) == new, "each new asset once, oldest first"
        payload = watch.payloads[0]
        assert payload["uri"] == f"cincopa://asset/{new[0]}" and payload["filename"] == "new0.mp4"
        assert {"id", "type", "modified", "tags", "versions"} <= set(payload)
        assert TOKEN not in json.dumps(watch.payloads)

        # Editing a fired asset (its `modified` moves) or an old one fires nothing.
        await asyncio.to_thread(hook.set_meta, new[0], description="reviewed", tags="done")
        await asyncio.to_thread(hook.set_meta, old[0], caption="renamed")
        await wait_polls(emulator, 4)
        assert watch.rids == new
    finally:
        await watch.stop()


async def test_include_existing_fires_for_the_matching_assets_already_there(emulator, hook, tmp_path):
    tagged = [await asyncio.to_thread(add_asset, hook, tmp_path, f"t{i}.mp4", tags="launch,news") for i in range(2)]
    await asyncio.to_thread(add_asset, hook, tmp_path, "other.mp4", tags="misc")
    watch = Watch(CincopaAssetEventTrigger(tag="news", include_existing=True, poll_interval=FAST).run())
    try:
        assert await watch.wait_for(2) == tagged
        await wait_polls(emulator, 3)
        assert watch.rids == tagged
    finally:
        await watch.stop()


@pytest.mark.slow
async def test_filters_tag_type_and_search(emulator, hook, tmp_path):
    watches = {
        "tag": CincopaAssetEventTrigger(tag="news", poll_interval=FAST),
        "type": CincopaAssetEventTrigger(type="image", poll_interval=FAST),
        "search": CincopaAssetEventTrigger(search="LAUNCH", poll_interval=FAST),
    }
    running = {name: Watch(trigger.run()) for name, trigger in watches.items()}
    try:
        await wait_polls(emulator, 6)
        with polls_held_off(emulator):
            news = await asyncio.to_thread(add_asset, hook, tmp_path, "a.mp4", tags="news,sport")
            image = await asyncio.to_thread(add_asset, hook, tmp_path, "poster.png")
            launch = await asyncio.to_thread(add_asset, hook, tmp_path, "big-launch.mp4")
        assert await running["tag"].wait_for(1) == [news]
        assert await running["type"].wait_for(1) == [image]
        assert await running["search"].wait_for(1) == [launch]
        await wait_polls(emulator, 6)
        assert [w.rids for w in running.values()] == [[news], [image], [launch]]
        # Without sharing (Airflow < 3.3, run()), each watcher asks Cincopa with its own filters.
        filtered = [r["query"] for r in list_requests(emulator) if "tag" in r["query"]]
        assert filtered and all(q["tag"] == "news" for q in filtered)
    finally:
        for watch in running.values():
            await watch.stop()


@pytest.mark.slow
async def test_an_asset_is_judged_a_poll_after_it_appears_so_tags_set_right_after_the_upload_count(
    emulator, hook, tmp_path
):
    """An upload operator (or a person) tags the asset in a second call: a poll in between must not decide."""
    watch = Watch(CincopaAssetEventTrigger(poll_interval=1.5).run())
    try:
        await wait_polls(emulator, 2)
        rid = await asyncio.to_thread(add_asset, hook, tmp_path, "tag-me.mp4")
        await wait_polls(emulator, 1)  # this poll sees it without its tag
        await asyncio.to_thread(hook.set_meta, rid, tags="late")
        assert await watch.wait_for(1) == [rid]
        assert watch.payloads[0]["tags"] == "late", "judged by the poll after the one that first saw it"
    finally:
        await watch.stop()


# -- exactly once across restarts --------------------------------------------------------------


@pytest.mark.slow
async def test_a_restart_fires_what_came_while_down_and_nothing_twice(emulator, hook, tmp_path):
    store = StateStore()
    await asyncio.to_thread(add_asset, hook, tmp_path, "existing.mp4")

    first = CincopaAssetEventTrigger(poll_interval=FAST)
    first.asset_state_store = store
    watch = Watch(first.run())
    await wait_polls(emulator, 2)
    before = await asyncio.to_thread(add_asset, hook, tmp_path, "before.mp4")
    assert await watch.wait_for(1) == [before]
    await watch.stop()  # the triggerer goes down

    down = [await asyncio.to_thread(add_asset, hook, tmp_path, f"down{i}.mp4") for i in range(2)]
    [key] = store.values
    assert key.startswith(CURSOR_KEY_PREFIX + ".")

    again = CincopaAssetEventTrigger(poll_interval=FAST)
    again.asset_state_store = store
    watch = Watch(again.run())
    try:
        assert await watch.wait_for(2) == down, "what came while down fires once; `before` does not fire again"
        after = await asyncio.to_thread(add_asset, hook, tmp_path, "after.mp4")
        assert await watch.wait_for(3) == [*down, after]
        await wait_polls(emulator, 3)
        assert watch.rids == [*down, after]
    finally:
        await watch.stop()

    # A watcher with other filters keeps a cursor of its own in the same asset's store.
    other = CincopaAssetEventTrigger(type="image", poll_interval=FAST)
    assert other.cursor_key != again.cursor_key


@pytest.mark.slow
async def test_without_a_state_store_a_restart_starts_from_what_is_there(emulator, hook, tmp_path):
    """Airflow < 3.3: the cursor is in memory; assets made while the triggerer was down are the new baseline."""
    watch = Watch(CincopaAssetEventTrigger(poll_interval=FAST).run())
    await wait_polls(emulator, 2)
    await watch.stop()
    await asyncio.to_thread(add_asset, hook, tmp_path, "while-down.mp4")
    watch = Watch(CincopaAssetEventTrigger(poll_interval=FAST).run())
    try:
        await wait_polls(emulator, 3)
        later = await asyncio.to_thread(add_asset, hook, tmp_path, "later.mp4")
        assert await watch.wait_for(1) == [later]
    finally:
        await watch.stop()


# -- what a poll costs ----------------------------------------------------------------------------


@pytest.mark.slow
async def test_a_poll_that_finds_nothing_costs_one_small_request(emulator, hook, tmp_path):
    for i in range(3):
        await asyncio.to_thread(add_asset, hook, tmp_path, f"x{i}.mp4")
    watch = Watch(CincopaAssetEventTrigger(poll_interval=FAST).run())
    try:
        await wait_polls(emulator, 5)
    finally:
        await watch.stop()
    polls = list_requests(emulator)
    assert len(polls) >= 5 and watch.rids == []
    assert all(p["query"].get("page") == "1" for p in polls), "never a second page"
    assert all(p["query"].get("items_per_page") == str(POLL_PAGE_SIZE) for p in polls)


@pytest.mark.slow
async def test_listing_pages_back_to_the_cursor_and_no_further(emulator, hook, tmp_path):
    rids = [await asyncio.to_thread(add_asset, hook, tmp_path, f"p{i}.mp4") for i in range(12)]
    ids = [int(a["id"]) for a in sorted(emulator.assets(), key=lambda a: a["id"])]
    async_hook = CincopaHook()
    try:
        lister = AssetLister(async_hook, {}, 5, logging.getLogger(__name__))
        before = len(list_requests(emulator))
        items, head = await lister.newer(ids[4])  # 7 newer: pages 1 and 2 of 5, page 3 is not read
        assert [i["rid"] for i in items] == rids[5:] and head == ids[-1]
        assert [r["query"]["page"] for r in list_requests(emulator)[before:]] == ["1", "2"]
        assert await lister.head() == ids[-1] and lister.newest_first
    finally:
        await async_hook.aclose()


# -- failures -------------------------------------------------------------------------------------


@pytest.mark.slow
async def test_5xx_is_retried_with_backoff_without_events_and_the_watcher_goes_on(emulator, hook, tmp_path, capsys):
    watch = Watch(CincopaAssetEventTrigger(poll_interval=FAST).run())
    try:
        await wait_polls(emulator, 2)
        emulator.faults(fail=[{"path_prefix": "/v2/asset.list", "nth": 1, "status": 503, "times": 4}])
        rid = await asyncio.to_thread(add_asset, hook, tmp_path, "during-outage.mp4")
        assert await watch.wait_for(1) == [rid]
        await wait_polls(emulator, 3)
        assert watch.rids == [rid] and not watch.task.done()
    finally:
        await watch.stop()
    assert sum(r.get("status") == 503 for r in list_requests(emulator)) == 4
    logged = capsys.readouterr().out
    retries = [line for line in logged.splitlines() if "trying again" in line]
    assert len(retries) == 4 and all("HTTP 503" in line for line in retries)
    # httpx's own "HTTP Request: GET <url>" INFO lines are left out: on Airflow 3.0 pytest's capture
    # gets them before the secrets masker (a real triggerer's log is checked in test_triggerer.py
    # and the deployment tests).
    assert TOKEN not in "\n".join(line for line in logged.splitlines() if "HTTP Request:" not in line)


async def test_unreachable_cincopa_is_retried_and_fires_nothing(emulator, monkeypatch, capsys):
    port = free_port()  # nothing listens there
    set_connection(monkeypatch, "cincopa_down", password=TOKEN, host=f"http://127.0.0.1:{port}/v2/")
    watch = Watch(CincopaAssetEventTrigger(cincopa_conn_id="cincopa_down", poll_interval=0.05).run())
    logged = ""
    try:
        for _ in range(600):  # at most a minute
            await asyncio.sleep(0.1)
            logged += capsys.readouterr().out
            if logged.count("trying again") >= 3 or watch.task.done():
                break
        assert not watch.task.done() and watch.payloads == []
    finally:
        await watch.stop()
    assert "Could not reach Cincopa" in logged and TOKEN not in logged


async def test_a_refused_token_ends_the_watcher_with_a_clear_error(emulator, monkeypatch, capsys):
    set_connection(monkeypatch, "cincopa_refused", password="WRONGTOKEN000", host=emulator.base_url)
    watch = Watch(CincopaAssetEventTrigger(cincopa_conn_id="cincopa_refused", poll_interval=FAST).run())
    with pytest.raises(CincopaAuthError, match="HTTP 403"):
        await watch.wait_for(1)
    assert "Cincopa refused the token, the asset watcher stops" in capsys.readouterr().out


# -- one poll shared by watchers with different filters (Airflow 3.3+) -----------------------------


@pytest.mark.slow
@pytest.mark.skipif(airflow_version() < (3, 3), reason="shared trigger streams exist on Airflow 3.3+ only")
async def test_watchers_on_one_connection_share_one_poll_each_with_its_filters(emulator, hook, tmp_path):
    from airflow.triggers.shared_stream import SharedStreamManager

    manager = SharedStreamManager()
    triggers = {
        "all": CincopaAssetEventTrigger(poll_interval=FAST),
        "tag": CincopaAssetEventTrigger(tag="news", poll_interval=FAST),
        "type": CincopaAssetEventTrigger(type="image", poll_interval=FAST),
        "search": CincopaAssetEventTrigger(search="LAUNCH", poll_interval=FAST),
    }
    [key] = {t.shared_stream_key() for t in triggers.values()}
    watches = {}
    for trigger_id, (name, trigger) in enumerate(triggers.items()):
        trigger.asset_state_store = StateStore()
        watches[name] = Watch(
            trigger.filter_shared_stream(manager.subscribe(trigger_id=trigger_id, trigger=trigger, key=key))
        )
    try:
        await wait_polls(emulator, 3)
        with polls_held_off(emulator):
            news = await asyncio.to_thread(add_asset, hook, tmp_path, "a.mp4", tags="news")
            image = await asyncio.to_thread(add_asset, hook, tmp_path, "poster.png")
            launch = await asyncio.to_thread(add_asset, hook, tmp_path, "big-launch.mp4")
        before_events = len(list_requests(emulator))
        assert await watches["all"].wait_for(3) == [news, image, launch]
        assert await watches["tag"].wait_for(1) == [news]
        assert await watches["type"].wait_for(1) == [image]
        assert await watches["search"].wait_for(1) == [launch]
        await wait_polls(emulator, 3)
        assert [w.rids for w in watches.values()] == [[news, image, launch], [news], [image], [launch]]
    finally:
        for trigger_id, watch in enumerate(watches.values()):
            await watch.stop()
            await manager.unsubscribe(trigger_id, key)
    answered = [r for r in list_requests(emulator)[before_events:] if r.get("status") == 200]
    shared = [r["query"] for r in answered if "rid" not in r["query"]]
    checks = [r["query"] for r in answered if "rid" in r["query"]]
    assert shared and all(not {"tag", "type", "search"} & set(q) for q in shared), "one unfiltered poll for all"
    # The search watcher asks Cincopa once about the new assets, by rid: its search is Cincopa's.
    assert checks == [{**checks[0], "rid": f"{news},{image},{launch}", "search": "LAUNCH"}]


# -- serialisation and bad arguments ----------------------------------------------------------------


def test_serializes_to_its_kwargs_and_refuses_bad_arguments():
    trigger = CincopaAssetEventTrigger(cincopa_conn_id="c", tag="news", poll_interval=5)
    path, kwargs = trigger.serialize()
    assert path == "airflow_provider_cincopa.triggers.events.CincopaAssetEventTrigger"
    assert kwargs == {
        "cincopa_conn_id": "c",
        "tag": "news",
        "type": None,
        "search": None,
        "poll_interval": 5.0,
        "include_existing": False,
    }
    assert CincopaAssetEventTrigger(**kwargs).serialize() == (path, kwargs)
    with pytest.raises(CincopaInputError, match="poll_interval"):
        CincopaAssetEventTrigger(poll_interval=0)
    with pytest.raises(CincopaInputError, match="tag must be a string"):
        CincopaAssetEventTrigger(tag=["news"])  # type: ignore[arg-type]
