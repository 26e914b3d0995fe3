"""
The triggers' async request path, as hard as the sync one (issue 22 item 3, issue 19 items 1 and 10).

The h11 keep-alive pool is driven by scripted :mod:`tests.hostile` servers on loopback with the
answers the emulator (uvicorn, always Content-Length) never sends: chunked, ``Connection:
close``, EOF-delimited, gzip-compressed, Latin-1; a closed pool and a full one; and through the
real hook's ``acall``: redirects, oversized answers, a trickle, and the one proxy rule shared
with the sync path.
"""

from __future__ import annotations

import asyncio
import gzip
import json

import pytest

from airflow_provider_cincopa.exceptions import CincopaAnswerTooLargeError, CincopaRedirectError
from airflow_provider_cincopa.hooks._lean_http import Pool, RequestFailed
from airflow_provider_cincopa.hooks._transport import TransientError
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from tests import hostile
from tests.conftest import TOKEN, set_connection

pytestmark = pytest.mark.unit

ANSWER = {"success": True, "n": 1}


@pytest.fixture
def server():
    with hostile.HostileServer() as server:
        yield server


def pool_for(server: hostile.HostileServer, size: int = 2) -> Pool:
    port = int(server.url.rsplit(":", 1)[1])
    return Pool("http", "127.0.0.1", port, size=size, user_agent="cincopa-test", ssl_context=None)


async def ask_twice(pool: Pool, path: str = "/v2/x.json?a=1") -> list[str]:
    try:
        return [(await pool.request("GET", path, timeout=10)).text for _ in range(2)]
    finally:
        await pool.aclose()


# -- framing, encodings, charsets --------------------------------------------------------------


def test_a_chunked_answer_is_joined_and_the_connection_kept(server):
    server.route("/", hostile.chunked(b'{"success": tr', b'ue, "n": 1}'))
    pool = pool_for(server)
    assert [json.loads(t) for t in asyncio.run(ask_twice(pool))] == [ANSWER, ANSWER]
    assert pool.opened == 1


def test_an_answer_with_connection_close_is_read_and_its_connection_not_reused(server):
    body = json.dumps(ANSWER).encode()
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n"
    server.route("/", hostile.raw(head % len(body) + body, close=True))
    pool = pool_for(server)
    assert [json.loads(t) for t in asyncio.run(ask_twice(pool))] == [ANSWER, ANSWER]
    assert pool.opened == 2 and server.connections == 2


def test_an_answer_delimited_by_the_end_of_the_connection_is_read_whole(server):
    server.route("/", hostile.eof_delimited(json.dumps(ANSWER).encode()))
    pool = pool_for(server)
    assert [json.loads(t) for t in asyncio.run(ask_twice(pool))] == [ANSWER, ANSWER]
    assert pool.opened == 2


def test_a_gzip_answer_is_decompressed_although_identity_was_asked(server):
    server.route("/", hostile.gzipped(ANSWER))
    pool = pool_for(server)
    assert [json.loads(t) for t in asyncio.run(ask_twice(pool))] == [ANSWER, ANSWER]
    assert server.seen[0].headers["Accept-Encoding"] == "identity"


def test_an_answer_in_latin_1_is_decoded_in_its_charset(server):
    body = json.dumps({"success": True, "message": "café"}, ensure_ascii=False).encode("latin-1")
    server.route("/", hostile.reply(body, content_type="application/json; charset=iso-8859-1"))
    texts = asyncio.run(ask_twice(pool_for(server)))
    assert [json.loads(t)["message"] for t in texts] == ["café", "café"]


def test_a_gzip_bomb_is_refused_at_the_cap(server):
    bomb = gzip.compress(b" " * (40 * 1024 * 1024))  # ~40 kB that inflate to 40 MiB
    server.route("/", hostile.reply(bomb, headers={"Content-Encoding": "gzip"}))
    pool = pool_for(server)

    async def main() -> None:
        try:
            await pool.request("GET", "/x", timeout=10)
        finally:
            await pool.aclose()

    with pytest.raises(CincopaAnswerTooLargeError, match="32 MiB"):
        asyncio.run(main())


# -- a closed pool, a full pool ----------------------------------------------------------------


def test_a_request_to_a_closed_pool_fails_at_once_without_sending(server):
    server.route("/", hostile.json_reply(ANSWER))
    pool = pool_for(server, size=1)

    async def main() -> None:
        await pool.aclose()
        # The guard is only there so that a hang fails the test instead of the suite.
        await asyncio.wait_for(pool.request("GET", "/x", timeout=60), 30)

    with pytest.raises(RequestFailed, match="closed"):
        asyncio.run(main())
    assert server.seen == []


def test_closing_the_pool_wakes_the_requests_waiting_for_a_connection(server):
    server.route("/slow", hostile.hold(60, hostile.json_reply(ANSWER)))
    server.route("/", hostile.json_reply(ANSWER))
    pool = pool_for(server, size=1)

    async def main() -> tuple[BaseException | None, bool]:
        busy = asyncio.ensure_future(pool.request("GET", "/slow", timeout=120))
        while not server.seen:  # the only connection is taken
            await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(pool.request("GET", "/x", timeout=120))
        await asyncio.sleep(0)  # it waits for the connection now
        await pool.aclose()
        error = await asyncio.wait_for(asyncio.gather(waiting, return_exceptions=True), 30)
        still_busy = not busy.done()
        busy.cancel()
        return error[0], still_busy

    error, still_busy = asyncio.run(main())
    assert isinstance(error, RequestFailed) and "closed" in str(error)
    assert still_busy, "the waiting request did not wait for the busy one"


def test_the_wait_for_a_connection_counts_against_the_timeout(server):
    server.route("/slow", hostile.hold(60, hostile.json_reply(ANSWER)))
    server.route("/", hostile.json_reply(ANSWER))
    pool = pool_for(server, size=1)

    async def main() -> BaseException | None:
        busy = asyncio.ensure_future(pool.request("GET", "/slow", timeout=120))
        while not server.seen:
            await asyncio.sleep(0.01)
        try:
            await asyncio.wait_for(pool.request("GET", "/x", timeout=0.5), 30)
        except RequestFailed as exc:
            return exc
        finally:
            busy.cancel()
            await pool.aclose()
        return None

    error = asyncio.run(main())
    assert isinstance(error, RequestFailed) and "TimeoutError" in str(error)
    assert [s.path for s in server.seen] == ["/slow"], "the waiting request was never sent"


# -- the policy through the hook's acall -------------------------------------------------------


def hook_on(monkeypatch: pytest.MonkeyPatch, base_url: str, **extra: object) -> CincopaHook:
    set_connection(
        monkeypatch, "cincopa_async", password=TOKEN, host=base_url, extra={"timeout": 3, "retries": 0, **extra}
    )
    return CincopaHook("cincopa_async")


async def acall(hook: CincopaHook, method: str) -> dict:
    try:
        return await hook.acall(method, {})
    finally:
        await hook.aclose()


def test_an_async_redirect_to_another_host_is_refused(monkeypatch, server):
    with hostile.HostileServer(hostile.FOREIGN_HOST) as foreign:
        server.route("/", hostile.redirect(307, f"{foreign.url}/v2/ping.json?stolen=LOCATIONQUERY"))
        with pytest.raises(CincopaRedirectError) as refused:
            asyncio.run(acall(hook_on(monkeypatch, server.api()), "ping"))
        assert foreign.seen == []
    said = str(refused.value)
    assert "HTTP 307" in said and hostile.FOREIGN_HOST in said and "LOCATIONQUERY" not in said
    assert TOKEN not in said


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_async_answer_is_refused(monkeypatch, server, declared):
    server.route("/", hostile.oversized(50 * 1024 * 1024, declared=declared))
    with pytest.raises(CincopaAnswerTooLargeError, match="32 MiB") as refused:
        asyncio.run(acall(hook_on(monkeypatch, server.api()), "asset.list"))
    assert refused.value.method == "asset.list"


def test_an_async_answer_trickling_from_its_status_line_ends_at_the_timeout(monkeypatch, server):
    whole = b'HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\n{"success": true}'
    server.route("/", hostile.trickle(whole, every=1.5))
    with pytest.raises(TransientError, match="TimeoutError"):
        asyncio.run(acall(hook_on(monkeypatch, server.api()), "ping"))


# -- one proxy rule ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("no_proxy", "proxied"),
    [("", True), ("127.0.0.1", False), ("127.0.0.0/8", False)],
    ids=["proxy", "no_proxy-host", "no_proxy-cidr"],
)
def test_sync_and_async_calls_take_the_same_proxy_decision(monkeypatch, server, no_proxy, proxied):
    server.route("/", hostile.json_reply({"success": True, "accid": "1"}))
    with hostile.ForwardProxy() as proxy:
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.setenv("no_proxy", no_proxy)
        hook = hook_on(monkeypatch, server.api())
        assert hook.ping()["success"]
        assert asyncio.run(acall(hook, "ping"))["success"]
        hook.close()
    assert len(proxy.seen) == (2 if proxied else 0), proxy.seen
    assert len(server.seen) == 2
