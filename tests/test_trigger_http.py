"""
The triggers' HTTP path, for real against the emulator: one connection read shared per connection id
and event loop (and why a stale or failed one is not kept), a connection the server dropped is
replaced, HTTPS through one SSL context with the certificate checked, and polls through an HTTP
proxy when one is set (httpx then carries them). No timing is asserted.
"""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from airflow_provider_cincopa.exceptions import CincopaTlsError
from airflow_provider_cincopa.hooks import _async_client
from airflow_provider_cincopa.hooks import cincopa as hook_module
from airflow_provider_cincopa.hooks._transport import TransientError
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger
from tests import hostile
from tests.conftest import READONLY, TOKEN, set_connection
from tests.support import first_event

STATUS_PATH = "/v2/asset.upload_from_url_get_status"


@pytest.fixture
def connection_reads(monkeypatch) -> list[str]:
    """The connection ids the hooks read (a counting wrapper around the real read)."""
    reads: list[str] = []
    real = hook_module.aread_connection

    async def counting(conn_id, parse):
        reads.append(conn_id)
        return await real(conn_id, parse)

    monkeypatch.setattr(hook_module, "aread_connection", counting)
    return reads


def test_triggers_starting_together_share_one_connection_read(emulator, done_import, connection_reads):
    async def main() -> list:
        tasks = [
            asyncio.ensure_future(first_event(CincopaUploadStatusTrigger(status_id=done_import))) for _ in range(100)
        ]
        await asyncio.sleep(0)  # every trigger is waiting for the one read now
        tasks[0].cancel()  # a trigger killed meanwhile does not cancel the read for the others
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    assert isinstance(results[0], asyncio.CancelledError)
    assert [r["status"] for r in results[1:]] == ["success"] * 99
    assert connection_reads == ["cincopa_default"]


def test_a_token_edited_in_airflow_reaches_triggers_started_after_the_ttl(
    emulator, done_import, connection_reads, monkeypatch
):
    monkeypatch.setattr(_async_client, "SETTINGS_TTL", 0.0)
    before = len(emulator.requests(STATUS_PATH))

    async def main() -> tuple[dict, dict]:
        first = await first_event(CincopaUploadStatusTrigger(status_id=done_import))
        set_connection(monkeypatch, "cincopa_default", password=READONLY, host=emulator.base_url)
        return first, await first_event(CincopaUploadStatusTrigger(status_id=done_import))

    first, second = asyncio.run(main())
    assert first["status"] == "success"
    assert second["status"] == "error" and "HTTP 403" in second["message"], second
    assert [p["query"]["api_token"] for p in emulator.requests(STATUS_PATH)[before:]] == [TOKEN, READONLY]
    assert connection_reads == ["cincopa_default"] * 2


# Airflow 3.0 looks a connection missing from the environment up in its database too.
@pytest.mark.emulator
def test_a_failed_connection_read_is_not_kept(emulator, done_import, monkeypatch):
    async def main() -> tuple[dict, dict]:
        missing = await first_event(CincopaUploadStatusTrigger(status_id=done_import, cincopa_conn_id="cincopa_late"))
        set_connection(monkeypatch, "cincopa_late", password=TOKEN, host=emulator.base_url)
        return missing, await first_event(
            CincopaUploadStatusTrigger(status_id=done_import, cincopa_conn_id="cincopa_late")
        )

    missing, defined = asyncio.run(main())
    assert missing["status"] == "error" and "cincopa_late" in missing["message"], missing
    assert defined["status"] == "success"


def test_a_connection_the_server_dropped_is_replaced(emulator, done_import):
    emulator.faults(drop=[{"path_prefix": STATUS_PATH, "nth": 5, "times": 1, "after_handling": True}])
    before = len(emulator.requests(STATUS_PATH))

    async def main() -> list[dict]:
        triggers = [CincopaUploadStatusTrigger(status_id=done_import, poll_interval=0.1) for _ in range(40)]
        return await asyncio.gather(*(first_event(t) for t in triggers))

    events = asyncio.run(main())
    assert [e["status"] for e in events] == ["success"] * 40
    polls = emulator.requests(STATUS_PATH)[before:]
    assert len(polls) == 41, "the trigger whose answer was lost polled again"
    assert sum(1 for p in polls if p.get("dropped_answer")) == 1
    assert len({p["client"] for p in polls}) <= _async_client.MAX_CONNECTIONS + 1


# -- HTTPS ------------------------------------------------------------------------------------


async def _tls_front(emulator_url: str, cert: Path, key: Path) -> asyncio.Server:
    """A TLS front end on loopback relaying bytes to the emulator, as a load balancer would."""
    target = urlsplit(emulator_url)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    return await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)


def test_https_polls_share_one_ssl_context_and_check_the_certificate(emulator, done_import, monkeypatch, tmp_path):
    cert, key = hostile.self_signed(tmp_path)
    monkeypatch.setattr(_async_client, "_ssl_context", None)  # built afresh, with the test's trust store
    made: list[ssl.SSLContext] = []
    real_create = ssl.create_default_context

    def counting_create(*args, **kwargs):
        made.append(context := real_create(*args, **kwargs))
        return context

    monkeypatch.setattr(ssl, "create_default_context", counting_create)

    async def main(trusted: bool) -> list:
        front = await _tls_front(emulator.base_url, cert, key)
        port = front.sockets[0].getsockname()[1]
        set_connection(monkeypatch, "cincopa_tls", password=TOKEN, host=f"https://127.0.0.1:{port}/v2/")
        try:
            if not trusted:
                with pytest.raises(CincopaTlsError) as refused:
                    await CincopaHook("cincopa_tls").aget_upload_from_url_status(done_import)
                return [refused.value]
            triggers = [
                CincopaUploadStatusTrigger(status_id=done_import, cincopa_conn_id="cincopa_tls") for _ in range(50)
            ]
            return await asyncio.gather(*(first_event(t) for t in triggers))
        finally:
            front.close()

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    events = asyncio.run(main(trusted=True))
    assert [e["status"] for e in events] == ["success"] * 50
    assert len(made) == 1, "one SSL context for every trigger"

    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setattr(_async_client, "_ssl_context", None)  # the default trust store does not know it
    (refused,) = asyncio.run(main(trusted=False))
    # Not a TransientError: the trigger ends with an error event instead of polling a host it cannot trust.
    assert not isinstance(refused, TransientError)
    assert "does not verify" in str(refused) and "CERTIFICATE_VERIFY_FAILED" in str(refused)
    assert TOKEN not in str(refused)


# -- proxies ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_polls_go_through_an_http_proxy_when_one_is_set(emulator, done_import, monkeypatch):
    async def main() -> list[dict]:
        triggers = [CincopaUploadStatusTrigger(status_id=done_import) for _ in range(10)]
        return await asyncio.gather(*(first_event(t) for t in triggers))

    with hostile.ForwardProxy() as proxy, monkeypatch.context() as env:
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "ALL_PROXY", "all_proxy"):
            env.delenv(name, raising=False)
        env.setenv("http_proxy", proxy.url)
        events = asyncio.run(main())
        env.setenv("no_proxy", "127.0.0.1")
        bypassed = asyncio.run(main())
    assert [e["status"] for e in events + bypassed] == ["success"] * 20
    assert len(proxy.seen) == 10 and all(
        url.startswith(f"{emulator.base_url}asset.upload_from_url_get_status") for url in proxy.seen
    )
    assert all(f"api_token={TOKEN}" in url for url in proxy.seen)
