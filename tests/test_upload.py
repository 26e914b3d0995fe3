"""Uploads through the hook to the emulator's upload host: bytes, headers, parallelism, resume."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from urllib.parse import unquote

import httpx
import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaUploadError
from airflow_provider_cincopa.hooks import _parallel
from airflow_provider_cincopa.hooks.upload import ResumeState
from tests.support import make_file

MiB = 1024 * 1024
RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


def upload_requests(emulator) -> list[dict]:
    return emulator.requests("/upload/")


def test_small_file_goes_in_one_request_with_vendor_headers(hook, emulator, tmp_path):
    path = tmp_path / "my clip é.mp4"
    digest = make_file(path, 1000)
    result = hook.upload_file(str(path))
    [request] = upload_requests(emulator)
    headers = request["headers"]
    assert request["method"] == "POST"
    assert headers["content-range"] == "bytes 0-1000/1000", "END is exclusive, as Cincopa's uploader sends it"
    assert headers["content-length"] == "1000" and request["body_length"] == 1000
    assert unquote(headers["x-file-name"]) == "my clip é.mp4"
    assert headers["unique-id"]
    assert headers["content-type"] == "multipart/form-data", "a bare one, as Cincopa's uploader sends it"
    assert "api_token" not in request["query"], "the upload URL authenticates with its own hash"
    [asset] = emulator.assets()
    assert (asset["rid"], asset["sha256"], asset["size"]) == (result.rid, digest, 1000)
    assert (result.filename, result.size, result.id) == ("my clip é.mp4", 1000, int(asset["id"]))


def test_chunked_parallel_upload_is_byte_exact(hook, emulator, tmp_path):
    path = tmp_path / "big.mp4"
    size = 5 * MiB + 123
    digest = make_file(path, size)
    seen = []
    result = hook.upload_file(
        str(path), chunk_size=MiB, max_parallel_chunks=4, progress_callback=lambda d, t: seen.append((d, t))
    )
    requests = upload_requests(emulator)
    ranges = sorted(tuple(map(int, RANGE.match(r["headers"]["content-range"]).groups())) for r in requests)
    assert ranges == [(i * MiB, min((i + 1) * MiB, size), size) for i in range(6)]
    assert {r["headers"]["unique-id"] for r in requests} == {requests[0]["headers"]["unique-id"]}
    assert all(r["body_length"] == int(r["headers"]["content-length"]) for r in requests)
    # Every chunk as Cincopa's own uploader sends it (wire-protocol page): a bare multipart/form-data
    # over raw bytes, a known Content-Length (never chunked transfer encoding), the file's name.
    for r in requests:
        assert r["headers"]["content-type"] == "multipart/form-data"
        assert "transfer-encoding" not in r["headers"]
        assert unquote(r["headers"]["x-file-name"]) == "big.mp4"
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and asset["rid"] == result.rid
    assert seen[-1] == (size, size) and [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.slow
@pytest.mark.parametrize(("parallel", "most_alongside"), [(1, 0), (2, 1), (4, 3)])
def test_the_next_chunk_starts_while_the_host_answers_the_last(
    hook, emulator, tmp_path, monkeypatch, parallel, most_alongside
):
    """
    One chunk sending at a time still leaves no gap: a chunk whose body is sent makes room. The
    chunk that completes the file goes last and alone, once every other chunk was answered.
    """
    # Every path counts as fast, so the gate never opens to parallel sending: what overlaps below
    # overlaps only because a chunk that waits for its answer no longer counts as sending.
    monkeypatch.setattr(_parallel, "FAST", 0.0)
    # The host reads each chunk, then takes 0.3 s to answer.
    emulator.faults(latency={"path_prefix": "/upload/", "seconds": 0.3, "after_body": True})
    path = tmp_path / "clip.mp4"
    digest = make_file(path, 5 * 256 * 1024)
    result = hook.upload_file(str(path), chunk_size=256 * 1024, max_parallel_chunks=parallel)
    requests = upload_requests(emulator)
    assert len(requests) == 5 and all(r["delayed"] == 0.3 for r in requests)
    assert max(r["alongside"] for r in requests) == most_alongside, "never more than max_parallel_chunks"
    last = requests[-1]
    assert last["headers"]["content-range"] == f"bytes {4 * 256 * 1024}-{5 * 256 * 1024}/{5 * 256 * 1024}"
    assert last["alongside"] == 0, "the completing chunk is sent alone, after every other one was answered"
    [asset] = emulator.assets()
    assert (asset["rid"], asset["sha256"]) == (result.rid, digest)


def test_two_uploads_of_same_name_get_distinct_unique_ids(hook, emulator, tmp_path):
    path = tmp_path / "same.mp4"
    make_file(path, 100)
    a, b = hook.upload_file(str(path)), hook.upload_file(str(path))
    assert a.rid != b.rid
    assert len({r["headers"]["unique-id"] for r in upload_requests(emulator)}) == 2


def test_gallery_and_attach_targets(hook, emulator, tmp_path):
    video, thumb = tmp_path / "v.mp4", tmp_path / "t.jpg"
    make_file(video, 300)
    make_file(thumb, 50, seed=2)
    rid = hook.upload_file(str(video), gallery_fid="GALLERY00001").rid
    attached = hook.upload_file(str(thumb), attach_to_rid=rid, attach_type="thumb")
    assert attached.rid == rid
    [asset] = emulator.assets()
    assert asset["gallery"] == "GALLERY00001"
    assert list(asset["attachments"]) == ["thumb"]


def test_object_storage_sources(hook, emulator, tmp_path):
    from airflow.sdk import ObjectStoragePath

    path = tmp_path / "remote.mp4"
    digest = make_file(path, 3 * MiB + 7)
    by_url = hook.upload_file(f"file://{path}", chunk_size=MiB)
    by_path = hook.upload_file(ObjectStoragePath(f"file://{path}"), chunk_size=MiB, filename="renamed.mp4")
    assets = {a["rid"]: a for a in emulator.assets()}
    assert assets[by_url.rid]["sha256"] == digest == assets[by_path.rid]["sha256"]
    assert assets[by_path.rid]["filename"] == "renamed.mp4"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("/no/such/file.mp4", "does not exist"),
        ("", "empty"),
        ("nosuchproto://bucket/x.mp4", "Unsupported or malformed source"),
        ("file:///no/such/remote.mp4", "does not exist"),
    ],
)
def test_bad_sources_fail_before_any_request(hook, emulator, source, message):
    with pytest.raises(CincopaInputError, match=message):
        hook.upload_file(source)
    assert emulator.requests("/v2/asset.get_upload_url") == [] and upload_requests(emulator) == []


def test_empty_file_directory_and_bad_parameters(hook, emulator, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(CincopaInputError, match=r"empty \(0 bytes\)"):
        hook.upload_file(str(empty))
    with pytest.raises(CincopaInputError, match="directory"):
        hook.upload_file(str(tmp_path))
    ok = tmp_path / "ok.mp4"
    ok.write_bytes(b"x")
    with pytest.raises(CincopaInputError, match="chunk_size"):
        hook.upload_file(str(ok), chunk_size=0)
    with pytest.raises(CincopaInputError, match="max_parallel_chunks"):
        hook.upload_file(str(ok), max_parallel_chunks=0)
    assert upload_requests(emulator) == []


def test_unreadable_file(hook, emulator, tmp_path):
    import socket

    # A socket file cannot be opened for reading, even by root (who ignores file modes).
    path = tmp_path / "socket.mp4"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    try:
        with pytest.raises(CincopaInputError, match="cannot be read"):
            hook.upload_file(str(path))
    finally:
        sock.close()
    assert upload_requests(emulator) == []


def test_refusal_stops_the_upload_at_once(hook, emulator, tmp_path):
    path = tmp_path / "quota.mp4"
    make_file(path, 8 * MiB)
    emulator.faults(max_assets=0)
    # The emulator refuses only the completing chunk; force it to come first by a single request.
    with pytest.raises(CincopaUploadError, match="out of assets quota"):
        hook.upload_file(str(path))
    assert len(upload_requests(emulator)) == 1, "a refusal is never retried"
    assert emulator.assets() == []


def test_resume_sends_only_missing_ranges_out_of_order(hook, emulator, tmp_path):
    path = tmp_path / "resume.mp4"
    size = 6 * MiB
    digest = make_file(path, size)
    url = hook.get_upload_url()
    # A previous try had ranges 1 and 3..4 acknowledged before its worker died.
    first = ResumeState(upload_url=url, unique_id="resume-test-1", filename="resume.mp4", size=size)
    data = path.read_bytes()
    for start, end in ((MiB, 2 * MiB), (3 * MiB, 5 * MiB)):
        headers = {
            "X-File-Name": "resume.mp4",
            "Content-Range": f"bytes {start}-{end}/{size}",
            "unique-id": first.unique_id,
        }
        assert "chunk done" in httpx.post(url, content=data[start:end], headers=headers, timeout=30).text
        first.add_done(start, end)
    sent_before = len(upload_requests(emulator))
    states = []
    result = hook.upload_file(str(path), chunk_size=MiB, resume=first, on_state=lambda s: states.append(s.to_json()))
    resent = upload_requests(emulator)[sent_before:]
    ranges = sorted(RANGE.match(r["headers"]["content-range"]).group(1, 2) for r in resent)
    assert ranges == [("0", str(MiB)), (str(2 * MiB), str(3 * MiB)), (str(5 * MiB), str(size))]
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and asset["rid"] == result.rid
    assert states[-1]["rid"] == result.rid and states[-1]["done"] == [[0, size]]
    # A try after the upload finished returns the rid without sending anything.
    again = hook.upload_file(str(path), resume=ResumeState.from_json(states[-1]))
    assert again.rid == result.rid and len(upload_requests(emulator)) == sent_before + len(resent)


def test_file_changing_size_during_upload_is_reported(hook, emulator, tmp_path):
    path = tmp_path / "growing.mp4"
    make_file(path, 2 * MiB)

    def grow(done: int, total: int) -> None:
        with open(path, "ab") as f:
            f.write(b"more")

    with pytest.raises(CincopaInputError, match="changed size during upload"):
        hook.upload_file(str(path), chunk_size=MiB, max_parallel_chunks=1, progress_callback=grow)


@pytest.mark.emulator
def test_killed_uploader_resumes_with_one_byte_identical_asset(emulator, tmp_path):
    """SIGKILL a real uploading process mid-file, resume from its saved state in a new one."""
    path = tmp_path / "killed.mp4"
    size = 24 * MiB
    digest = make_file(path, size)
    state_file = tmp_path / "state.json"
    script = textwrap.dedent(
        f"""
        import json, os, sys, time
        from airflow_provider_cincopa.hooks.cincopa import CincopaHook
        from airflow_provider_cincopa.hooks.upload import ResumeState
        state_file = {str(state_file)!r}
        resume = ResumeState.from_json(json.load(open(state_file))) if os.path.exists(state_file) else None
        def save(state):
            tmp = state_file + ".tmp"
            json.dump(state.to_json(), open(tmp, "w"))
            os.replace(tmp, state_file)
            if sys.argv[1] == "slow":
                time.sleep(0.3)
        result = CincopaHook().upload_file({str(path)!r}, chunk_size=1024 * 1024, max_parallel_chunks=2,
                                           resume=resume, on_state=save)
        print("RID", result.rid)
        """
    )
    env = {**os.environ}
    proc = subprocess.Popen([sys.executable, "-c", script, "slow"], env=env, stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (
            state_file.exists()
            and len(json.loads(state_file.read_text())["done"] or [])
            and sum(e - s for s, e in json.loads(state_file.read_text())["done"]) >= 6 * MiB
        ):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    saved = ResumeState.from_json(json.loads(state_file.read_text()))
    assert 0 < saved.bytes_done < size and emulator.assets() == []
    sent_before = sum(r["body_length"] for r in upload_requests(emulator))

    out = subprocess.run([sys.executable, "-c", script, "fast"], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and f"RID {asset['rid']}" in out.stdout
    total_sent = sum(r["body_length"] for r in upload_requests(emulator))
    # The retry sends exactly the ranges the state lacks, and the only bytes sent twice are
    # those of the 2 chunks in flight when the process died.
    assert total_sent - sent_before == size - saved.bytes_done
    assert total_sent - size <= 2 * MiB


@pytest.mark.emulator
def test_memory_stays_bounded_whatever_the_chunk_size(emulator, tmp_path):
    """Chunks are streamed from 1 MiB reads: memory does not grow with chunk size or file size."""
    path = tmp_path / "large.mp4"
    make_file(path, 160 * MiB)
    script = textwrap.dedent(
        f"""
        import json, resource
        from airflow_provider_cincopa.hooks.cincopa import CincopaHook
        hook = CincopaHook()
        hook.ping()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        hook.upload_file({str(path)!r}, chunk_size={32 * MiB}, max_parallel_chunks=4)
        print(json.dumps([before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    before_kib, peak_kib = json.loads(out.stdout.strip().splitlines()[-1])
    growth_mib = (peak_kib - before_kib) / 1024
    # A client holding its chunks would need 4 x 32 MiB = 128 MiB more; streaming needs a few.
    assert growth_mib < 32, f"peak RSS grew by {growth_mib:.1f} MiB while uploading"
    [asset] = emulator.assets()
    assert asset["size"] == 160 * MiB


def test_resume_with_expired_upload_url_starts_over(hook, emulator, tmp_path):
    path = tmp_path / "expired.mp4"
    size = 3 * MiB
    digest = make_file(path, size)
    from airflow_provider_cincopa.hooks.sources import LocalSource

    expired = ResumeState(
        upload_url=hook.get_upload_url().replace("hash=", "hash=0"),
        unique_id="old",
        filename="expired.mp4",
        size=size,
        done=[[0, MiB]],
        source_version=LocalSource(path).version,
    )
    result = hook.upload_file(str(path), chunk_size=MiB, resume=expired)
    [asset] = emulator.assets()
    assert asset["rid"] == result.rid and asset["sha256"] == digest
    statuses = [r["status"] for r in emulator.requests("/upload/")]
    assert 1 <= statuses.count(403) <= 2, "only the chunks in flight met the dead URL"
    assert statuses.count(200) == 3, "then the whole file went with a fresh URL"


@pytest.mark.slow
def test_resume_of_a_replaced_file_starts_over(hook, emulator, tmp_path):
    path = tmp_path / "replaced.mp4"
    make_file(path, 2 * MiB, seed=1)
    states = []
    emulator.faults(fail=[{"path_prefix": "/upload", "nth": 2, "status": 400, "times": 1}])
    with pytest.raises(CincopaUploadError, match="injected HTTP 400 error"):
        hook.upload_file(
            str(path), chunk_size=MiB, max_parallel_chunks=1, on_state=lambda s: states.append(s.to_json())
        )
    emulator.clear_faults()
    time.sleep(0.01)
    digest = make_file(path, 2 * MiB, seed=2)  # same name and size, other bytes
    saved = ResumeState.from_json(states[-1])
    assert saved.bytes_done == MiB
    result = hook.upload_file(str(path), chunk_size=MiB, resume=saved)
    [asset] = emulator.assets()
    assert asset["rid"] == result.rid and asset["sha256"] == digest, "no mix of old and new bytes"
