"""
The sync request policy against hostile servers (issue 19 items 1, 5, 6, 9 and 10), over real HTTP.

The real ``CincopaHook`` is pointed at a :mod:`tests.hostile` server through an Airflow connection
(environment variable): redirects to a second loopback address that records every request (it
must receive none), https-to-http redirects, trickling and oversized answers, a self-signed
certificate, a plain-HTTP server behind an https URL, an HTML page with status 200. Upload chunks
go through the hook's session too, so ``upload_file`` is tested against an upload host that
redirects or trickles. No timing is asserted: on the code before the policy, each of these calls
succeeded (with the foreign host's answer, or after the trickle) or failed with another error.
"""

from __future__ import annotations

import pytest

from airflow_provider_cincopa.exceptions import (
    CincopaAnswerTooLargeError,
    CincopaRedirectError,
    CincopaTlsError,
)
from airflow_provider_cincopa.hooks._transport import MalformedAnswerError, TransientError
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from tests import hostile
from tests.conftest import TOKEN, set_connection

pytestmark = pytest.mark.unit

PING = {"success": True, "accid": "1", "permissions": "asset.read"}
#: The upload URL's secret, which must never reach another host.
HASH = "HASHCANARY" + "7" * 16
#: Bytes of the uploaded file, looked for on the foreign host.
FILE_BYTES = b"FILEBYTESCANARY-" * 64


def hook_on(monkeypatch: pytest.MonkeyPatch, base_url: str, **extra: object) -> CincopaHook:
    """A hook on a connection to ``base_url`` (by default: timeout 3 s, no retries)."""
    set_connection(
        monkeypatch, "cincopa_hostile", password=TOKEN, host=base_url, extra={"timeout": 3, "retries": 0, **extra}
    )
    return CincopaHook("cincopa_hostile")


@pytest.fixture
def foreign():
    """Another host (127.0.0.2) that answers like Cincopa would and records every request."""
    with hostile.HostileServer(hostile.FOREIGN_HOST) as server:
        server.route("/v2/", hostile.json_reply(PING))
        server.route("/", hostile.reply("new resource id 99 FOREIGNRID", content_type="text/plain"))
        yield server


@pytest.fixture
def server():
    with hostile.HostileServer() as server:
        yield server


def assert_nothing_reached(host: hostile.HostileServer) -> None:
    assert host.seen == [], "the foreign host received a request"
    assert host.connections == 0


# -- 19.1: redirects ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_an_api_redirect_to_another_host_is_refused_and_the_token_stays(monkeypatch, server, foreign, status):
    server.route("/v2/ping", hostile.redirect(status, f"{foreign.url}/v2/ping.json?stolen=LOCATIONQUERY"))
    hook = hook_on(monkeypatch, server.api())
    with pytest.raises(CincopaRedirectError) as refused:
        hook.ping()
    said = str(refused.value)
    assert f"HTTP {status}" in said and "to another host" in said and hostile.FOREIGN_HOST in said
    assert "LOCATIONQUERY" not in said and TOKEN not in said
    assert refused.value.method == "ping"
    assert_nothing_reached(foreign)


def test_a_redirect_from_https_to_http_is_refused(monkeypatch, tmp_path, server):
    cert, key = hostile.self_signed(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # the https server is trusted: only its redirect is wrong
    with hostile.HostileServer(tls=hostile.server_context(cert, key)) as secure:
        secure.route("/v2/ping", hostile.redirect(302, f"{server.url}/v2/ping.json"))
        with pytest.raises(CincopaRedirectError, match="from https to plain http"):
            hook_on(monkeypatch, secure.api()).ping()
        assert len(secure.seen) == 1
    assert_nothing_reached(server)


def test_a_redirect_on_the_same_host_is_refused_too(monkeypatch, server):
    # Our call (docs/design.md): a chunk's streamed body cannot be replayed, and an API that
    # redirects means a base URL to fix, which the error says.
    server.route("/v2/ping", hostile.redirect(307, "/v2/elsewhere.json"))
    server.route("/v2/elsewhere", hostile.json_reply(PING))
    with pytest.raises(CincopaRedirectError, match="on the same host"):
        hook_on(monkeypatch, server.api()).ping()
    assert [s.path for s in server.seen] == ["/v2/ping.json"]


def upload_host(server: hostile.HostileServer, chunk_answer: hostile.Answer) -> None:
    """``server`` as the API (``asset.get_upload_url`` naming an upload URL on it) and the upload host."""
    server.route("/v2/asset.get_upload_url", hostile.json_reply({"success": True, "upload_url": upload_url(server)}))
    server.route("/v2/asset.list", hostile.json_reply({"success": True, "items": [], "items_data": {}}))
    server.route("/upload/", chunk_answer)


def upload_url(server: hostile.HostileServer) -> str:
    return f"{server.url}/upload/?hash={HASH}&d=1"


@pytest.mark.parametrize("status", [302, 307])
def test_an_upload_chunk_redirect_to_another_host_is_refused(monkeypatch, tmp_path, server, foreign, status):
    # 302: the chunk used to become a body-less GET whose foreign "new resource id" was taken as
    # the asset; 307: its bytes and the upload hash went to the foreign host.
    upload_host(server, hostile.redirect(status, f"{foreign.url}/upload/?hash={HASH}"))
    source = tmp_path / "clip.mp4"
    source.write_bytes(FILE_BYTES)
    with pytest.raises(CincopaRedirectError) as refused:
        hook_on(monkeypatch, server.api()).upload_file(str(source))
    assert f"HTTP {status}" in str(refused.value) and HASH not in str(refused.value)
    assert_nothing_reached(foreign)
    [chunk] = [s for s in server.seen if s.path.startswith("/upload/")]
    assert chunk.body == FILE_BYTES


# -- 19.5: a deadline per attempt -------------------------------------------------------------


TRICKLED_BODY = b'{"success": true, "accid": "1"}'  # 31 bytes: 46 s at 1.5 s a byte
TRICKLED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 31\r\n\r\n"


@pytest.mark.parametrize(
    "answer",
    [
        hostile.trickle(TRICKLED_BODY, every=1.5, head=TRICKLED_HEAD),
        hostile.trickle(TRICKLED_HEAD + TRICKLED_BODY, every=1.5),
    ],
    ids=["body", "from-the-status-line"],
)
def test_an_api_answer_trickling_a_byte_at_a_time_ends_at_the_timeout(monkeypatch, server, answer):
    server.route("/v2/ping", answer)
    with pytest.raises(TransientError, match="timed out at the attempt's deadline of 3 s") as cut:
        hook_on(monkeypatch, server.api()).ping()
    assert cut.value.method == "ping"


def test_a_chunk_answer_trickling_a_byte_at_a_time_ends_at_its_deadline(monkeypatch, tmp_path, server):
    # A chunk's answer gets max(CHUNK_READ_TIMEOUT, timeout) from the moment its last byte is sent
    # (the host may assemble the file first); lowered here so that the test is short.
    monkeypatch.setattr("airflow_provider_cincopa.hooks.upload.CHUNK_READ_TIMEOUT", 3.0)
    answer = b"new resource id 7 TRICKLERID"
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(answer)
    upload_host(server, hostile.trickle(answer, every=1.5, head=head))
    source = tmp_path / "clip.mp4"
    source.write_bytes(FILE_BYTES)
    with pytest.raises(TransientError, match="answer's deadline of 3 s"):
        hook_on(monkeypatch, server.api()).upload_file(str(source))


# -- 19.6: failures no retry can fix ----------------------------------------------------------


def test_a_certificate_that_does_not_verify_fails_at_once_with_the_default_connection(monkeypatch, tmp_path, server):
    cert, key = hostile.self_signed(tmp_path)
    with hostile.HostileServer(tls=hostile.server_context(cert, key)) as secure:
        set_connection(monkeypatch, "cincopa_hostile", password=TOKEN, host=secure.api())  # default retries
        with pytest.raises(CincopaTlsError, match="does not verify") as refused:
            CincopaHook("cincopa_hostile").ping()
        assert secure.connections == 1, "not retried"
        assert secure.seen == []
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value) and TOKEN not in str(refused.value)


def test_tls_spoken_to_a_plain_http_server_fails_at_once(monkeypatch, server):
    server.route("/", hostile.json_reply(PING))
    plain = server.url.replace("http://", "https://")
    with pytest.raises(CincopaTlsError, match="does not speak TLS"):
        hook_on(monkeypatch, f"{plain}/v2/", retries=3).ping()
    assert server.connections == 1, "not retried"


def test_an_html_page_with_status_200_is_tried_at_most_twice(monkeypatch, server):
    server.route("/v2/ping", hostile.html_page())
    with pytest.raises(MalformedAnswerError, match="not a JSON object"):
        hook_on(monkeypatch, server.api(), retries=5).ping()
    assert len(server.seen) == 2


def test_a_truncated_answer_once_is_still_retried(monkeypatch, server):
    server.route("/v2/ping", hostile.reply('{"success": tr'))
    with pytest.raises(MalformedAnswerError):
        hook_on(monkeypatch, server.api(), retries=5).ping()
    assert len(server.seen) == 2, "one more try, as a proxy may have cut one answer"


# -- 19.10: bounded answers -------------------------------------------------------------------


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_oversized_answer_is_refused_without_reading_it_whole(monkeypatch, server, declared):
    server.route("/v2/asset.list", hostile.oversized(50 * 1024 * 1024, declared=declared))
    with pytest.raises(CincopaAnswerTooLargeError, match="larger than the provider's cap of 32 MiB") as refused:
        list(hook_on(monkeypatch, server.api()).list_assets())
    assert refused.value.method == "asset.list"


# -- 19.9: the hook's settings -----------------------------------------------------------------


def test_the_settings_repr_and_str_mask_the_token(monkeypatch, server):
    settings = hook_on(monkeypatch, server.api()).settings
    for shown in (repr(settings), str(settings), f"{settings}", repr([settings])):
        assert TOKEN not in shown and "token='***'" in shown, shown
    assert settings.token == TOKEN
