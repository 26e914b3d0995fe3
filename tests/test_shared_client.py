"""
Triggers on one event loop share one httpx client per connection (one SSL context, one keep-alive
pool), never mix tokens between connections, and survive a sibling cancelled mid-request. The
triggers run for real against the emulator; the checks read the emulator's request log.
"""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_cincopa.hooks import _async_client
from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger
from tests.conftest import READONLY, TOKEN, set_connection
from tests.support import first_event


async def open_clients_once_idle() -> int:
    """Shared clients still open once the idle grace period after the last trigger is over."""
    open_now = _async_client.open_clients()
    assert open_now <= 1, "one shared client per connection"
    await asyncio.sleep(_async_client.IDLE_CLOSE_SECONDS + 0.5)
    return _async_client.open_clients()


def status_polls(emulator, since: int = 0) -> list[dict]:
    return emulator.requests("/v2/asset.upload_from_url_get_status")[since:]


@pytest.mark.slow
def test_many_triggers_share_one_client_and_a_small_pool(emulator, done_import):
    before = len(status_polls(emulator))

    async def main() -> tuple[list[dict], int]:
        triggers = [CincopaUploadStatusTrigger(status_id=done_import, poll_interval=1) for _ in range(300)]
        events = await asyncio.gather(*(first_event(t) for t in triggers))
        return events, await open_clients_once_idle()

    events, open_after = asyncio.run(main())
    assert [e["status"] for e in events] == ["success"] * 300
    polls = status_polls(emulator, before)
    assert len(polls) == 300
    connections = {p["client"] for p in polls}
    # One client per trigger opened 300 connections; the shared one reuses its small pool.
    assert len(connections) <= _async_client.MAX_CONNECTIONS, len(connections)
    assert open_after == 0, "the idle shared client was closed"


def test_tokens_never_cross_connections(emulator, done_import, monkeypatch):
    set_connection(monkeypatch, "cincopa_other", password=READONLY, host=emulator.base_url, extra={"timeout": 10})
    before = len(status_polls(emulator))

    async def main() -> list[dict]:
        triggers = []
        for i in range(100):
            if i % 2:
                triggers.append(CincopaUploadStatusTrigger(status_id=f"other-{i}", cincopa_conn_id="cincopa_other"))
            else:
                triggers.append(CincopaUploadStatusTrigger(status_id=done_import))
        return await asyncio.gather(*(first_event(t) for t in triggers))

    events = asyncio.run(main())
    mine = [e for e in events if e["status_id"] == done_import]
    other = [e for e in events if e["status_id"] != done_import]
    assert [e["status"] for e in mine] == ["success"] * 50
    assert {e["status"] for e in other} == {"error"} and all("HTTP 403" in e["message"] for e in other)
    for poll in status_polls(emulator, before):
        expected = TOKEN if poll["query"]["status_id"] == done_import else READONLY
        assert poll["query"]["api_token"] == expected
    assert all(TOKEN not in e["message"] and READONLY not in e["message"] for e in events)


@pytest.mark.slow
def test_a_trigger_cancelled_mid_request_leaves_the_shared_client_usable(emulator, done_import):
    emulator.faults(latency={"path_prefix": "/v2/asset.upload_from_url_get_status", "seconds": 1.0})

    async def main() -> tuple[list[dict], int]:
        tasks = [
            asyncio.ensure_future(first_event(CincopaUploadStatusTrigger(status_id=done_import))) for _ in range(20)
        ]
        await asyncio.sleep(0.3)  # every request is in flight, held by the emulator
        for task in tasks[:10]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        return [r for r in results if isinstance(r, dict)], await open_clients_once_idle()

    finished, open_after = asyncio.run(main())
    assert [e["status"] for e in finished] == ["success"] * 10, "the others finished on the shared client"
    assert open_after == 0
