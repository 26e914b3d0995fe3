"""
The emulator itself, started through its CLI as a real subprocess and driven with plain httpx
over loopback, as any client would.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import hmac
import json
import os
import random
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx
import pytest

from airflow_provider_cincopa.emulator import EmulatorServer
from airflow_provider_cincopa.emulator.testing import EmulatorProcess, running_emulator, start_emulator_process

pytestmark = pytest.mark.emulator

TOKEN = "EMUTEST" + secrets.token_hex(8)
READ_ONLY = "READONLY" + secrets.token_hex(8)
GALLERY = "GALLERY00001"
FINAL = re.compile(r"new resource id (\d+) (\S+)\ndone\.\n$")
CHUNK_DONE = "authentication ok\nchunk done.\n"


@pytest.fixture(scope="module")
def proc() -> Iterator[EmulatorProcess]:
    args = ["--gallery", GALLERY, "--extra-token", f"{READ_ONLY}=ping|asset.list"]
    with running_emulator(TOKEN, args) as emu:
        yield emu


@pytest.fixture
def emu(proc: EmulatorProcess) -> EmulatorProcess:
    proc.reset()
    return proc


class Media:
    """A tiny source server for ``upload_from_url`` and a webhook receiver, on loopback."""

    def __init__(self) -> None:
        files: dict[str, bytes] = {}
        hooks: list[tuple[str, dict[str, Any]]] = []
        self.files, self.hooks = files, hooks

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(unquote(self.path.lstrip("/")))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(0, len(body), 16384):
                        self.wfile.write(body[i : i + 16384])
                except OSError:
                    pass  # the emulator aborted the download

            def do_POST(self) -> None:
                hooks.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
                self.send_response(500 if self.path.startswith("/broken") else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def media() -> Iterator[Media]:
    m = Media()
    yield m
    m.server.shutdown()


def api(emu: EmulatorProcess, method: str, token: str | None = TOKEN, **params: Any) -> httpx.Response:
    query = {**params, **({"api_token": token} if token else {})}
    return httpx.get(f"{emu.base_url}{method}.json", params=query, timeout=30)


def upload_url(emu: EmulatorProcess, **params: Any) -> str:
    answer = api(emu, "asset.get_upload_url", **params).json()
    assert answer["success"], answer
    return answer["upload_url"]


def chunk(url: str, data: bytes, start: int, end: int, uid: str = "u1", name: str = "f.mp4") -> httpx.Response:
    headers = {"X-File-Name": name, "Content-Range": f"bytes {start}-{end}/{len(data)}", "unique-id": uid}
    return httpx.post(url, content=data[start:end], headers=headers, timeout=60)


def new_asset(emu: EmulatorProcess, data: bytes, name: str = "f.mp4", **params: Any) -> str:
    match = FINAL.search(chunk(upload_url(emu, **params), data, 0, len(data), uid=secrets.token_hex(4), name=name).text)
    assert match, "no new resource id"
    return match.group(2)


def wait_for(condition: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_token_from_env_one_stdout_line_and_clean_sigterm():
    env = {**os.environ, "CINCOPA_EMULATOR_TOKEN": "ENVTOKEN123"}
    cmd = [sys.executable, "-m", "airflow_provider_cincopa.emulator", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert re.fullmatch(r"Cincopa emulator listening on http://127\.0\.0\.1:\d+/v2/\n", line)
    base = line.split()[-1]
    temp_dir = httpx.get(base.replace("/v2/", "/_emulator/state")).json()["data_dir"]
    assert Path(temp_dir).is_dir()
    assert httpx.get(f"{base}ping.json", params={"api_token": "ENVTOKEN123"}).json()["ping"] == "pong"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0 and out == "", "a clean exit, and nothing but the one line on stdout"
    assert not Path(temp_dir).exists(), "the temp data dir is removed at stop"

    env.pop("CINCOPA_EMULATOR_TOKEN")
    missing = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=30)
    assert missing.returncode != 0 and "--token" in missing.stderr and missing.stdout == ""


def test_in_process_server_with_knobs():
    with EmulatorServer(token="INPROC", galleries=("G1",), max_assets=0, latency=0.0) as server:
        assert server.base_url == f"http://127.0.0.1:{server.port}/v2/"
        query = {"api_token": "INPROC", "fid": "G1"}
        url = httpx.get(f"{server.base_url}asset.get_upload_url.json", params=query).json()["upload_url"]
        assert chunk(url, b"abc", 0, 3).text.startswith("error: out of assets quota")
        data_dir = server.state.data_dir
    assert not data_dir.exists()


@pytest.mark.parametrize(("http", "loop"), [("h11", "asyncio"), ("httptools", "asyncio"), ("auto", "auto")])
def test_each_http_protocol_takes_uploads_and_drops_on_purpose(http, loop):
    # httptools and uvloop are optional (uvicorn[standard] brings them); h11 and asyncio are the fallback.
    with EmulatorServer(token="PROTO", http=http, loop=loop) as server:
        query = {"api_token": "PROTO"}
        url = httpx.get(f"{server.base_url}asset.get_upload_url.json", params=query).json()["upload_url"]
        server.state.faults.configure({"drop": [{"path_prefix": "/upload", "after_bytes": 1000}]})
        data = os.urandom(300_000)
        with pytest.raises(httpx.TransportError):
            chunk(url, data, 0, len(data))
        assert FINAL.search(chunk(url, data, 0, len(data)).text), "the retry goes through"
        [asset] = server.state.snapshot()["assets"]
        assert asset["sha256"] == hashlib.sha256(data).hexdigest()
    with pytest.raises(ValueError, match="http must be"):
        EmulatorServer(token="PROTO", http="h2")


# -- tokens and permissions ------------------------------------------------------------------------


def test_token_checking_matches_cincopa(emu):
    for answer in (
        api(emu, "ping", token=None),
        api(emu, "ping", token="nope"),
        httpx.get(f"{emu.base_url}ping.json", headers={"api_token": TOKEN}),
        httpx.post(f"{emu.base_url}ping.json", data={"api_token": TOKEN}),
    ):
        assert answer.status_code == 403 and answer.json()["success"] is False and answer.json()["message"]
    post = httpx.post(f"{emu.base_url}ping.json", params={"api_token": TOKEN})
    assert post.json()["success"] is True, "POST with the parameters in the query string"
    form = httpx.post(f"{emu.base_url}asset.list.json", params={"api_token": TOKEN}, data={"items_per_page": "7"})
    assert form.json()["items_data"]["items_per_page"] == 7, "parameters from a urlencoded body too"
    unknown = api(emu, "no.such_method")
    assert unknown.status_code == 404 and unknown.json()["success"] is False
    ping = api(emu, "ping").json()
    assert ping["permissions"] == "|asset.*|gallery.*|webhook.*|portal.*|upload.*|token.*|"
    assert {"accid", "accid_num", "accemail", "userid", "useremail", "ip"} <= set(ping) and ping["ping"] == "pong"
    assert isinstance(ping["runtime"], int)


def test_limited_and_temporary_tokens(emu):
    assert api(emu, "asset.list", token=READ_ONLY).json()["success"]
    denied = api(emu, "asset.delete", token=READ_ONLY, rid="x")
    assert denied.status_code == 403
    assert denied.json()["message"] == "permission denied: asset.delete is not allowed for this token"

    temp = api(emu, "token.get_temp", ttl=60).json()["token"]
    assert api(emu, "asset.list", token=temp).json()["success"]
    assert api(emu, "webhook.list", token=temp).json()["success"]
    assert api(emu, "asset.set_meta", token=temp, rid="x").status_code == 403, "temp tokens only read"
    narrow = api(emu, "token.get_temp", permissions="webhook.list").json()["token"]
    assert api(emu, "webhook.list", token=narrow).json()["success"]
    assert api(emu, "asset.list", token=narrow).status_code == 403
    elsewhere = api(emu, "token.get_temp", sourceip="10.9.8.7").json()["token"]
    assert api(emu, "asset.list", token=elsewhere).status_code == 403
    short = api(emu, "token.get_temp", ttl=1).json()["token"]
    assert api(emu, "ping", token=short).status_code == 200
    time.sleep(1.1)
    expired = api(emu, "ping", token=short)
    assert expired.status_code == 403 and "expired" in expired.json()["message"]
    assert api(emu, "token.get_temp", token=READ_ONLY).status_code == 403


# -- assets ------------------------------------------------------------------------------------------


def test_asset_list_pages_filters_and_shape(emu):
    rids = [new_asset(emu, os.urandom(100 + i), name=f"clip{i}.mp4") for i in range(5)]
    rids.append(new_asset(emu, b"png", name="Poster.PNG"))
    rids.append(new_asset(emu, b"mp3", name="song.mp3"))
    meta = {"caption": "Big Launch", "description": "d", "tags": "news,launch", "reference_id": "ref-1"}
    assert api(emu, "asset.set_meta", rid=rids[0], **meta).json()["success"]
    assert api(emu, "asset.set_meta", rid=rids[1], tags="news").json()["success"]

    pages = [api(emu, "asset.list", page=p, items_per_page=3).json() for p in (1, 2, 3)]
    assert [p["items_data"] for p in pages][2] == {"page": 3, "items_per_page": 3, "items_count": 7, "pages_count": 3}
    assert sorted(i["rid"] for p in pages for i in p["items"]) == sorted(rids)
    assert api(emu, "asset.list", items_per_page=9999).json()["items_data"]["items_per_page"] == 500

    def found(**filters: Any) -> list[str]:
        return [i["rid"] for i in api(emu, "asset.list", **filters).json()["items"]]

    assert found(search="big LAUNCH") == [rids[0]] and found(search="CLIP3") == [rids[3]]
    assert sorted(found(tag="news")) == sorted(rids[:2]) and found(reference_id="ref-1") == [rids[0]]
    assert found(type="image") == [rids[5]] and found(type="audio") == [rids[6]]
    assert sorted(found(rid=f"{rids[2]},{rids[4]}")) == sorted([rids[2], rids[4]])
    assert api(emu, "asset.get_tags").json()["tag_cloud"] == {"news": 2, "launch": 1}

    [item] = api(emu, "asset.list", rid=rids[0]).json()["items"]
    assert item["id"].isdigit() and re.fullmatch(r"[A-Za-z0-9_-]{12}", item["rid"]) and item["type"] == "video"
    assert item["filesize"] == 100 and item["versions"]["original"]["filesize"] == 100
    assert item["caption"] == "Big Launch" and item["tags"] == "news,launch" and item["modified"].endswith("Z")
    for key in ("filename", "description", "long_description", "related_link_text", "related_link_url"):
        assert key in item


def test_refusals_name_the_problem(emu):
    for method in ("asset.set_meta", "asset.resync", "asset.delete"):
        answer = api(emu, method, rid="NoSuchRid123")
        assert answer.status_code == 200 and answer.json() == {
            "success": False,
            "message": "asset not found: rid=NoSuchRid123",
        }
    assert "gallery not found" in api(emu, "asset.get_upload_url", fid="NOPE").json()["message"]
    rid = new_asset(emu, b"x")
    assert api(emu, "asset.get_upload_url", rid=rid).json()["success"] is False, "rid without type"
    assert api(emu, "asset.resync", rid=rid).json()["success"]
    assert api(emu, "asset.delete", rid=rid).json()["success"]
    assert emu.state()["assets"] == []


# -- the upload host ------------------------------------------------------------------------------


def test_chunks_in_parallel_out_of_order_repeated_byte_exact(emu):
    data = os.urandom(1_000_003)
    url = upload_url(emu)
    ranges = [(s, min(s + 100_000, len(data))) for s in range(0, len(data), 100_000)]
    random.Random(7).shuffle(ranges)
    last, rest = ranges[0], ranges[1:] + ranges[1:3]  # two chunks sent twice
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda r: chunk(url, data, *r).text, rest))
    assert answers == [CHUNK_DONE] * len(rest)
    [session] = emu.state()["uploads"]
    assert session["received"] != [[0, len(data)]] and session["bytes_received_total"] > len(data) - 100_000
    final = chunk(url, data, *last)
    assert final.headers["content-type"].startswith("text/plain")
    assert final.text.startswith("authentication ok\nfile received ok\n") and FINAL.search(final.text)
    assert chunk(url, data, *last).text == final.text, "a retried final chunk gets the same answer"
    assert chunk(url, data, *ranges[4]).text == final.text
    [asset] = emu.state()["assets"]
    assert asset["sha256"] == hashlib.sha256(data).hexdigest() and asset["size"] == len(data)
    assert FINAL.search(final.text).groups() == (str(asset["id"]), asset["rid"])


def test_single_request_gallery_and_attachment(emu):
    response = httpx.post(upload_url(emu, fid=GALLERY), content=b"abc" * 100, headers={"X-File-Name": "a%20b.jpg"})
    rid = FINAL.search(response.text).group(2)
    assert "addtofid=GALLERY00001" in upload_url(emu, fid=GALLERY)
    thumb = chunk(upload_url(emu, rid=rid, type="thumb"), b"thumbnail", 0, 9, name="t.jpg")
    assert FINAL.search(thumb.text).group(2) == rid, "an attachment answers with its parent"
    [asset] = emu.state()["assets"]
    assert asset["filename"] == "a b.jpg" and asset["type"] == "image" and asset["fid"] == GALLERY
    assert asset["attachments"]["thumb"]["sha256"] == hashlib.sha256(b"thumbnail").hexdigest()
    assert api(emu, "asset.get_upload_url", rid=rid, type="../x").json()["success"] is False


@pytest.mark.parametrize(
    ("header", "body", "words"),
    [
        ("bytes 0-99/100", b"x" * 100, "Content-Length"),
        ("bytes 10-5/100", b"x" * 100, "END <= START"),
        ("bytes 0-200/100", b"x" * 200, "END > TOTAL"),
        ("0-100/100", b"x" * 100, "malformed"),
        ("bytes 0-100/100", b"x" * 50, "Content-Length"),
    ],
)
def test_bad_content_range_is_refused(emu, header, body, words):
    headers = {"Content-Range": header, "X-File-Name": "f", "unique-id": "bad"}
    response = httpx.post(upload_url(emu), content=body, headers=headers)
    assert response.status_code == 400 and response.text.startswith("error:") and words in response.text
    assert emu.state()["assets"] == []


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "application/octet-stream", "Multipart/Form-Data; charset=x", None]
)
def test_raw_bodies_are_taken_whatever_their_content_type(emu, content_type):
    # Cincopa's own uploader sends a bare `multipart/form-data` over raw bytes (wire-protocol page).
    headers = {"Content-Range": "bytes 0-9/9", "X-File-Name": "f.mp4", "unique-id": "ct"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    response = httpx.post(upload_url(emu), content=b"raw bytes", headers=headers)
    assert FINAL.search(response.text), response.text
    [asset] = emu.state()["assets"]
    assert asset["sha256"] == hashlib.sha256(b"raw bytes").hexdigest()
    [logged] = [r for r in emu.state()["requests"] if r["path"].startswith("/upload/")]
    assert logged["headers"].get("content-type") == content_type


def test_a_real_multipart_form_is_refused(emu):
    form = httpx.Request("POST", "http://form.invalid/", files={"file": ("f.mp4", b"raw bytes")})
    body = form.read()
    headers = {"Content-Type": form.headers["content-type"], "Content-Range": f"bytes 0-{len(body)}/{len(body)}"}
    assert "boundary=" in headers["Content-Type"]
    response = httpx.post(upload_url(emu), content=body, headers=headers)
    assert response.status_code == 400 and response.text.startswith("error:") and "multipart form" in response.text
    assert emu.state()["assets"] == []


def test_upload_url_is_authenticated(emu):
    url = upload_url(emu)
    for bad in (url.replace("hash=", "hash=00"), url.split("&hash=")[0], f"{emu.root_url}/upload/post.jpg"):
        response = httpx.post(bad, content=b"x" * 1000, headers={"Content-Range": "bytes 0-1000/1000"})
        assert response.status_code == 403 and response.text.startswith("error: authentication failed")
    short = upload_url(emu, ttl=1)
    time.sleep(1.1)
    assert chunk(short, b"x", 0, 1).status_code == 403, "the upload URL expired"


def test_big_upload_does_not_grow_memory(emu):
    size, block = 128 * 1024 * 1024, os.urandom(1024 * 1024)
    rss_before = _rss(emu)
    headers = {"Content-Range": f"bytes 0-{size}/{size}", "X-File-Name": "big.mp4", "unique-id": "big"}
    headers["Content-Length"] = str(size)
    answer = httpx.post(upload_url(emu), content=(block for _ in range(128)), headers=headers, timeout=120)
    assert FINAL.search(answer.text)
    digest = hashlib.sha256(block * 128).hexdigest()
    assert emu.state()["assets"][0]["sha256"] == digest
    assert _rss(emu) - rss_before < 40 * 1024 * 1024, "chunks go to disk, not memory"


def _rss(emu: EmulatorProcess) -> int:
    assert emu.proc is not None
    status = Path(f"/proc/{emu.proc.pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def test_32_parallel_uploads_lose_nothing(emu):
    files = {f"p{i}.mp4": os.urandom(40_000 + i) for i in range(32)}

    def send(name: str) -> str:
        data, url = files[name], upload_url(emu)
        parts = [(s, min(s + 10_000, len(data))) for s in range(0, len(data), 10_000)][::-1]
        answers = [chunk(url, data, s, e, uid=name, name=name).text for s, e in parts]
        return FINAL.search(answers[-1]).group(2)

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        rids = list(pool.map(send, files))
    assets = {a["rid"]: a for a in emu.state()["assets"]}
    assert len(set(rids)) == 32 and set(assets) == set(rids)
    for name, rid in zip(files, rids, strict=True):
        assert assets[rid]["sha256"] == hashlib.sha256(files[name]).hexdigest() and assets[rid]["filename"] == name


def test_quota_from_the_cli_survives_reset_and_latency():
    with running_emulator("QUOTATOKEN", ["--max-assets", "1", "--latency", "0.3"]) as emu:
        emu.reset()
        started = time.monotonic()
        url = emu.call("asset.get_upload_url", "QUOTATOKEN")["upload_url"]
        assert time.monotonic() - started >= 0.3
        assert FINAL.search(chunk(url, b"one", 0, 3).text)
        refused = chunk(upload_url_for(emu, "QUOTATOKEN"), b"two", 0, 3, uid="two")
        assert refused.status_code == 200 and refused.text.startswith("error: out of assets quota")
        assert len(emu.state()["assets"]) == 1


def upload_url_for(emu: EmulatorProcess, token: str) -> str:
    return emu.call("asset.get_upload_url", token)["upload_url"]


# -- URL imports -----------------------------------------------------------------------------------


def test_upload_from_url_progress_done_failed_and_abort(emu, media):
    data = os.urandom(300_000)
    media.files["movie one.mp4"] = data
    emu.faults(import_rate=300_000)
    status_id = api(emu, "asset.upload_from_url", input=f"{media.url}/movie%20one.mp4").json()["status_id"]
    polls = []
    while not polls or polls[-1]["status"] == "inprogress":
        polls.append(api(emu, "asset.upload_from_url_get_status", status_id=status_id).json())
        time.sleep(0.1)
    assert any(p["status"] == "inprogress" and 0 < int(p["progress_bytes"]) < len(data) for p in polls)
    done = polls[-1]
    assert done["success"] and done["status"] == "done" and done["progress"] == "100"
    assert done["file_size_bytes"] == str(len(data)) and {"more", "debug"} <= set(done)
    [asset] = emu.state()["assets"]
    assert asset["rid"] == done["resid"] and asset["filename"] == "movie one.mp4"
    assert asset["sha256"] == hashlib.sha256(data).hexdigest()

    missing = api(emu, "asset.upload_from_url", input=f"{media.url}/nope.mp4").json()["status_id"]
    failed = wait_for(lambda: _status_unless(emu, missing, "inprogress"))
    assert failed["success"] and failed["status"] == "failed" and "source answered HTTP 404" in failed["message"]

    emu.faults(import_rate=50_000)
    slow = api(emu, "asset.upload_from_url", input=f"{media.url}/movie%20one.mp4").json()["status_id"]
    wait_for(lambda: int(_status(emu, slow)["progress_bytes"]) > 0)
    aborted = api(emu, "asset.upload_from_url_abort", status_id=slow).json()
    assert aborted["success"] and aborted["status_id"] == slow
    time.sleep(0.3)
    assert _status(emu, slow)["status"] == "aborted" and len(emu.state()["assets"]) == 1

    assert api(emu, "asset.upload_from_url_get_status", status_id="nope").json()["message"] == (
        "status_id not found: nope"
    )
    assert api(emu, "asset.upload_from_url_abort", status_id="nope").json()["success"] is False
    assert api(emu, "asset.upload_from_url", input="ftp://example.com/x").json()["success"] is False


def _status(emu: EmulatorProcess, status_id: str) -> dict[str, Any]:
    return api(emu, "asset.upload_from_url_get_status", status_id=status_id).json()


def _status_unless(emu: EmulatorProcess, status_id: str, unwanted: str) -> dict[str, Any] | None:
    answer = _status(emu, status_id)
    return None if answer["status"] == unwanted else answer


# -- webhooks and portals ---------------------------------------------------------------------


def test_webhooks_are_delivered_signed_and_a_broken_receiver_harms_nothing(emu, media):
    media.hooks.clear()
    hook, deleted_only, broken = f"{media.url}/hook", f"{media.url}/deleted", f"{media.url}/broken"
    assert api(emu, "webhook.set", hook_url=hook, security_key="k3y-123", events="asset").json()["success"]
    assert api(emu, "webhook.set", hook_url=deleted_only, security_key="k", events="asset.deleted").json()["success"]
    assert api(emu, "webhook.set", hook_url=broken, security_key="k").json()["success"]
    assert api(emu, "webhook.set", hook_url="http://127.0.0.1:9/refused", security_key="k").json()["success"]
    assert api(emu, "webhook.set", hook_url=hook).json()["success"] is False, "security_key is required"
    listed = api(emu, "webhook.list").json()["webhooks"]
    assert {w["hook_url"] for w in listed} >= {hook, deleted_only} and all("security_key" not in w for w in listed)

    rid = new_asset(emu, b"hello", name="w.mp4")
    api(emu, "asset.set_meta", rid=rid, caption="C", reference_id="R")
    media.files["imported.mp4"] = b"imported"
    status_id = api(emu, "asset.upload_from_url", input=f"{media.url}/imported.mp4").json()["status_id"]
    api(emu, "asset.delete", rid=rid)
    wait_for(lambda: len([p for p, _ in media.hooks if p.startswith("/hook")]) == 4)
    wait_for(lambda: len(emu.state()["webhook_deliveries"]) == 4 + 1 + 4 + 4)

    to_hook = [(p, body) for p, body in media.hooks if p.startswith("/hook")]
    assert sorted(b["event"] for _, b in to_hook) == sorted(
        ["asset.uploaded", "asset.updated", "asset.uploaded", "asset.deleted"]
    )
    resid = _status(emu, status_id)["resid"]
    assert {b["drid"] for _, b in to_hook} == {rid, resid}
    updated = next(b for _, b in to_hook if b["event"] == "asset.updated")
    assert updated["caption"] == "C" and updated["reference_id"] == "R" and updated["filename"] == "w.mp4"
    assert {"description", "type", "modified"} <= set(updated)
    signature = parse_qs(urlsplit(to_hook[0][0]).query)["signature"][0]
    assert signature == hmac.new(b"k3y-123", hook.encode(), hashlib.sha256).hexdigest()
    assert [b["event"] for p, b in media.hooks if p.startswith("/deleted")] == ["asset.deleted"]
    deliveries = emu.state()["webhook_deliveries"]
    assert {d["status"] for d in deliveries if d["hook_url"] == broken} == {500}
    assert all(d["error"] for d in deliveries if d["hook_url"].endswith("/refused"))
    assert all("signature" not in d["hook_url"] for d in deliveries)

    slack = {"hook_url": "https://hooks.slack.example/x", "events": "asset.uploaded"}
    assert api(emu, "webhook.set_slack", **slack).json()["success"] is False, "slack_channel is required"
    assert api(emu, "webhook.set_slack", slack_channel="#media", **slack).json()["success"]
    [entry] = [w for w in api(emu, "webhook.list").json()["webhooks"] if w["hook_url"] == slack["hook_url"]]
    assert entry["slack_username"] == "cincopa_bot"
    assert httpx.get(f"{emu.base_url}webhhook.delete.json", params={"api_token": TOKEN, "hook_url": hook}).json()[
        "success"
    ], "the doc's misspelled path works"
    assert api(emu, "webhook.delete", hook_url=hook).json()["success"] is False


def test_portals_and_upload_pages(emu):
    assert api(emu, "portal.check", subdomain="acme").json()["available"] is True
    assert api(emu, "portal.cease", subdomain="acme").json()["success"]
    assert api(emu, "portal.cease", subdomain="acme").json()["success"] is False, "taken"
    assert api(emu, "portal.check", subdomain="acme").json()["available"] is False
    assert api(emu, "portal.rename", subdomain="acme", new_subdomain="acme2").json()["success"]
    assert api(emu, "portal.set", subdomain="acme2", title="Videos").json()["success"]
    assert api(emu, "portal.list").json()["portals"] == [{"subdomain": "acme2", "settings": {"title": "Videos"}}]
    assert api(emu, "portal.remove", subdomain="acme2").json()["success"]
    assert api(emu, "portal.remove", subdomain="acme2").json()["success"] is False
    page = httpx.get(f"{emu.base_url}upload.iframe", params={"api_token": TOKEN, "fid": GALLERY})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html") and "<html" in page.text
    assert api(emu, "upload.get_upload_token", fid=GALLERY).json()["token"]


# -- inspection and fault knobs -------------------------------------------------------------------


def test_request_log_and_reset(emu):
    api(emu, "asset.list", page=1)
    chunk(upload_url(emu), b"12345", 0, 5, uid="logged")
    log = emu.state()["requests"]
    listed = next(r for r in log if r["path"] == "/v2/asset.list.json")
    assert listed["method"] == "GET" and listed["query"]["page"] == "1" and listed["status"] == 200
    upload = next(r for r in log if r["path"].startswith("/upload/"))
    assert upload["headers"]["unique-id"] == "logged" and upload["headers"]["content-range"] == "bytes 0-5/5"
    assert upload["body_length"] == 5 and upload["status"] == 200
    emu.reset()
    state = emu.state()
    assert state["assets"] == state["requests"] == state["webhook_deliveries"] == state["uploads"] == []
    assert state["galleries"] == [GALLERY]


def test_fail_knob_answers_an_error_on_the_nth_request(emu):
    emu.faults(fail=[{"path_prefix": "/v2/ping", "nth": 2, "status": 503, "retry_after": 2, "times": 1}])
    answers = [api(emu, "ping") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 503, 200]
    assert answers[1].headers["retry-after"] == "2"
    assert api(emu, "asset.list").status_code == 200
    bad = httpx.post(f"{emu.root_url}/_emulator/faults", json={"fails": []})
    assert bad.status_code == 400 and "unknown fault knobs" in bad.text


def test_drop_knob_breaks_the_connection_mid_body(emu):
    emu.faults(drop=[{"path_prefix": "/upload", "nth": 1, "after_bytes": 1000, "times": 1}])
    data, url = os.urandom(300_000), upload_url(emu)
    with pytest.raises(httpx.TransportError):
        chunk(url, data, 0, len(data))
    assert FINAL.search(chunk(url, data, 0, len(data)).text), "the retry goes through"
    statuses = [r["status"] for r in emu.state()["requests"] if r["path"].startswith("/upload/")]
    assert statuses == ["dropped", 200]
    assert len(emu.state()["assets"]) == 1


def test_latency_bandwidth_and_malformed_knobs(emu):
    emu.faults(latency={"path_prefix": "/v2/ping", "seconds": 0.4})
    started = time.monotonic()
    assert api(emu, "ping").json()["success"]
    assert time.monotonic() - started >= 0.4
    api(emu, "asset.list")
    delayed = {r["path"]: r.get("delayed") for r in emu.state()["requests"]}
    assert delayed == {"/v2/ping.json": 0.4, "/v2/asset.list.json": None}, "only the prefix is slowed"

    emu.faults(bandwidth=400_000)
    data, url = os.urandom(200_000), upload_url(emu)
    started = time.monotonic()
    assert FINAL.search(chunk(url, data, 0, len(data)).text)
    assert time.monotonic() - started >= 0.4

    body = "<html>502 Bad Gateway</html>"
    emu.faults(malformed=[{"path_prefix": "/v2/asset.list", "nth": 1, "body": body, "content_type": "text/html"}])
    first = api(emu, "asset.list")
    assert first.status_code == 200 and first.text == body and first.headers["content-type"].startswith("text/html")
    assert api(emu, "asset.list").json()["success"]
    emu.clear_faults()
    assert emu.state()["faults"]["rules"]["malformed"] == []


# -- persistence -----------------------------------------------------------------------------------


def test_state_persists_across_restart(tmp_path):
    data = os.urandom(5000)
    args = ["--data-dir", str(tmp_path), "--gallery", GALLERY]
    with running_emulator("PERSIST", args) as emu:
        url = emu.call("asset.get_upload_url", fid=GALLERY)["upload_url"]
        rid = FINAL.search(chunk(url, data, 0, len(data)).text).group(2)
        assert emu.call("asset.set_meta", rid=rid, caption="kept", tags="a,b")["success"]
        assert emu.call("webhook.set", hook_url="http://127.0.0.1:9/h", security_key="s", events="asset")["success"]
        assert emu.call("portal.cease", subdomain="keep")["success"]
    proc, base = start_emulator_process("PERSIST", ["--data-dir", str(tmp_path)])
    try:
        query = {"api_token": "PERSIST"}
        [item] = httpx.get(f"{base}asset.list.json", params=query).json()["items"]
        assert item["rid"] == rid and item["caption"] == "kept" and item["filesize"] == len(data)
        assert (tmp_path / "assets" / rid).read_bytes() == data
        assert httpx.get(f"{base}webhook.list.json", params=query).json()["webhooks"][0]["events"] == "asset"
        assert httpx.get(f"{base}portal.check.json", params={**query, "subdomain": "keep"}).json()["available"] is False
        state = httpx.get(base.replace("/v2/", "/_emulator/state")).json()
        assert state["galleries"] == [GALLERY] and state["assets"][0]["fid"] == GALLERY
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    assert (tmp_path / "state.json").exists(), "a data dir is kept at stop"


# -- the CDN (downloads) -----------------------------------------------------------------------


def versions_of(emu: EmulatorProcess, rid: str) -> dict[str, Any]:
    [item] = api(emu, "asset.list", rid=rid).json()["items"]
    return item["versions"]


def test_every_version_url_is_on_the_emulators_cdn_with_its_size(emu):
    data = os.urandom(100_000)
    rid = new_asset(emu, data, name="my clip.mp4")
    versions = versions_of(emu, rid)
    assert set(versions) == {"original", "ts_720p", "ts_480p", "mp4_hd", "jpg_600x450", "jpg_200x150"}
    for key, version in versions.items():
        assert version["url"].startswith(f"{emu.root_url}/cdn/{rid}/")
        body = httpx.get(version["url"], timeout=30).raise_for_status().content
        assert len(body) == int(version["filesize"]), key
    assert httpx.get(versions["original"]["url"], timeout=30).content == data
    hd = versions["mp4_hd"]["url"]
    assert httpx.get(hd, timeout=30).content == httpx.get(hd, timeout=30).content, "renditions are deterministic"


def test_cdn_serves_ranges_head_416_and_404(emu):
    data = os.urandom(50_000)
    url = versions_of(emu, new_asset(emu, data))["original"]["url"]
    part = httpx.get(url, headers={"Range": "bytes=100-199"}, timeout=30)
    assert (part.status_code, part.content, part.headers["content-range"]) == (
        206,
        data[100:200],
        "bytes 100-199/50000",
    )
    assert httpx.get(url, headers={"Range": "bytes=-10"}, timeout=30).content == data[-10:]
    head = httpx.head(url, timeout=30)
    assert (head.status_code, head.headers["content-length"], head.content) == (200, "50000", b"")
    assert head.headers["accept-ranges"] == "bytes"
    beyond = httpx.get(url, headers={"Range": "bytes=50000-"}, timeout=30)
    assert (beyond.status_code, beyond.headers["content-range"]) == (416, "bytes */50000")
    assert httpx.get(url.replace("/cdn/", "/cdn/nope"), timeout=30).status_code == 404


def test_cdn_knobs_drop_redirect_ignore_range_and_slow(emu):
    data = os.urandom(300_000)
    url = versions_of(emu, new_asset(emu, data))["original"]["url"]
    emu.faults(cdn_drop=[{"after_bytes": 100_000}])
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=30)
    assert httpx.get(url, timeout=30).content == data, "once"
    emu.faults(cdn_redirect=[{"to": "http://edge.example"}], cdn_ignore_range=True, cdn_rate=10_000_000)
    moved = httpx.get(url, timeout=30)
    assert (moved.status_code, moved.headers["location"]) == (302, "http://edge.example" + urlsplit(url).path)
    whole = httpx.get(url, headers={"Range": "bytes=10-"}, timeout=30)
    assert (whole.status_code, whole.content) == (200, data)
    logged = [r for r in emu.state()["requests"] if r["path"].startswith("/cdn/")]
    assert [(r["status"], r["response_length"]) for r in logged][-1] == (200, 300_000)
    assert emu.state()["faults"]["cdn_rate"] == 10_000_000
