"""The emulator itself, driven with plain httpx as any client would."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from airflow_provider_cincopa.emulator.testing import EmulatorProcess
from tests.conftest import TOKEN


def api(emulator, method: str, token: str | None = TOKEN, **params):
    query = {**params, **({"api_token": token} if token else {})}
    return httpx.get(f"{emulator.base_url}{method}.json", params=query, timeout=10)


def upload_url(emulator) -> str:
    return api(emulator, "asset.get_upload_url").json()["upload_url"]


def chunk(url: str, data: bytes, start: int, end: int, total: int, uid: str = "u1", name: str = "f.mp4"):
    headers = {"X-File-Name": name, "Content-Range": f"bytes {start}-{end}/{total}", "unique-id": uid}
    return httpx.post(url, content=data[start:end], headers=headers, timeout=30)


def test_binds_to_loopback_by_default(emulator):
    assert urlsplit(emulator.base_url).hostname == "127.0.0.1"


def test_token_checking_matches_cincopa(emulator):
    missing = api(emulator, "ping", token=None)
    assert missing.status_code == 403 and missing.json()["success"] is False
    in_header = httpx.get(f"{emulator.base_url}ping.json", headers={"api_token": TOKEN}, timeout=10)
    assert in_header.status_code == 403, "a token in a header is rejected: it belongs in the query string"
    assert api(emulator, "ping", token="nope").status_code == 403
    post = httpx.post(f"{emulator.base_url}ping.json", params={"api_token": TOKEN}, timeout=10)
    assert post.json()["success"] is True, "POST with parameters in the query string works too"
    assert api(emulator, "no.such_method").status_code == 404


def test_chunks_out_of_order_repeated_and_byte_exact(emulator):
    data = os.urandom(250_000)
    url = upload_url(emulator)
    answers = [
        chunk(url, data, s, e, len(data)).text
        for s, e in ((200_000, 250_000), (0, 100_000), (0, 100_000), (100_000, 200_000))
    ]
    assert answers[:3] == ["authentication ok\nchunk done.\n"] * 3
    assert "new resource id" in answers[3]
    again = chunk(url, data, 0, 100_000, len(data)).text
    assert again == answers[3], "a chunk retried after completion gets the same answer, not a second asset"
    [asset] = emulator.assets()
    assert asset["sha256"] == hashlib.sha256(data).hexdigest() and asset["size"] == len(data)


def test_single_request_without_content_range(emulator):
    response = httpx.post(upload_url(emulator), content=b"abc" * 100, headers={"X-File-Name": "a%20b.jpg"}, timeout=10)
    assert "new resource id" in response.text
    [asset] = emulator.assets()
    assert asset["filename"] == "a b.jpg" and asset["type"] == "image"


@pytest.mark.parametrize("header", ["bytes 0-99/100", "bytes 10-5/100", "bytes 0-200/100", "0-100/100"])
def test_bad_content_range_is_refused(emulator, header):
    url = upload_url(emulator)
    response = httpx.post(url, content=b"x" * 100, headers={"Content-Range": header, "X-File-Name": "f"}, timeout=10)
    assert response.status_code == 400 and response.text.startswith("error:")
    assert emulator.assets() == []


def test_tampered_upload_url_is_refused(emulator):
    url = upload_url(emulator).replace("hash=", "hash=00")
    response = httpx.post(url, content=b"x", timeout=10)
    assert response.status_code == 403 and "error" in response.text


def test_webhooks_are_delivered_signed(emulator):
    received = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        assert api(emulator, "webhook.set", hook_url=hook_url, security_key="k3y-123", events="asset.*").json()[
            "success"
        ]
        url = upload_url(emulator)
        rid = chunk(url, b"hello", 0, 5, 5, name="w.mp4").text.split("new resource id ")[1].split()[1]
        api(emulator, "asset.set_meta", rid=rid, caption="C")
        api(emulator, "asset.delete", rid=rid)
        for _ in range(100):
            if len(received) == 3:
                break
            threading.Event().wait(0.05)
    finally:
        server.shutdown()
    assert sorted(body["event"] for _, body in received) == ["asset.deleted", "asset.updated", "asset.uploaded"]
    path, body = received[0]
    assert body["drid"] == rid
    signature = parse_qs(urlsplit(path).query)["signature"][0]
    assert signature == hmac.new(b"k3y-123", hook_url.encode(), hashlib.sha256).hexdigest()
    assert all(d["status"] == 204 for d in emulator.state()["webhook_deliveries"])


def test_temp_tokens_expire_and_are_read_only(emulator):
    temp = api(emulator, "token.get_temp", ttl=60).json()["token"]
    assert api(emulator, "asset.list", token=temp).json()["success"]
    assert api(emulator, "asset.delete", token=temp, rid="x").status_code == 403


def test_state_persists_across_restart(tmp_path):
    data = os.urandom(1000)
    with EmulatorProcess(token="persist-token", extra_args=["--data-dir", str(tmp_path)]) as proc:
        url = httpx.get(f"{proc.base_url}asset.get_upload_url.json", params={"api_token": "persist-token"}).json()[
            "upload_url"
        ]
        assert "new resource id" in chunk(url, data, 0, 1000, 1000).text
    with EmulatorProcess(token="persist-token", extra_args=["--data-dir", str(tmp_path)]) as proc:
        items = httpx.get(f"{proc.base_url}asset.list.json", params={"api_token": "persist-token"}).json()["items"]
        assert [i["filesize"] for i in items] == [1000]
        assert (tmp_path / "assets" / items[0]["rid"]).read_bytes() == data


def test_latency_and_bandwidth_knobs_keep_answers_right(emulator):
    emulator.faults(latency={"path_prefix": "/v2/ping", "seconds": 0.2}, bandwidth=200_000)
    assert api(emulator, "ping").json()["success"]
    data = os.urandom(100_000)
    assert "new resource id" in chunk(upload_url(emulator), data, 0, len(data), len(data)).text
    assert emulator.assets()[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert emulator.state()["faults"]["bandwidth"] == 200_000


def test_dropped_connection_is_a_network_error(emulator):
    emulator.faults(drop=[{"path_prefix": "/v2/ping", "nth": 1, "times": 1}])
    with pytest.raises(httpx.TransportError):
        api(emulator, "ping")
    assert api(emulator, "ping").json()["success"]
