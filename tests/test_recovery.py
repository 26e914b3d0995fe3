"""
No fault or crash leaves an upload stuck (issue 13), over real HTTP against the emulator:

- the status decides first: 429 and 5xx are retried whatever their body says (a proxy's HTML page,
  a bare ``internal error``), only a non-retryable answer saying ``error`` is a refusal;
- every crash point recovers: the answer to the completing chunk lost, or the uploader SIGKILLed
  right after it, whatever the host answers a chunk sent after completion (the same rid, a plain
  ``done``, a refusal), ends with exactly one asset and its rid;
- a cleared task whose asset was deleted uploads again;
- progress is logged at a steady pace, with one 100 % line.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import time

import httpx
import pytest

from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.types import UploadFromUrlStatus
from tests.conftest import TOKEN, set_connection
from tests.support import make_file

MiB = 1024 * 1024
COMPLETED_ANSWERS = ["same", "done", "error"]


def one_asset(emulator, digest: str, size: int) -> dict:
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and asset["size"] == size
    return asset


# -- the status decides first -------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_gateway_error_pages_on_a_chunk_are_retried(hook, emulator, tmp_path, status):
    emulator.faults(fail=[{"path_prefix": "/upload", "nth": 1, "status": status, "times": 2}])
    # The first failing answer, seen raw: what production sends, with the word "error" in it.
    raw = httpx.post(f"{emulator.root}/upload/post.jpg", content=b"x", timeout=10)
    assert raw.status_code == status
    assert ("rate limit" if status == 429 else "error") in raw.text.lower()
    path = tmp_path / "gateway.mp4"
    digest = make_file(path, 3 * MiB)
    result = hook.upload_file(str(path), chunk_size=MiB, max_parallel_chunks=1)
    assert one_asset(emulator, digest, 3 * MiB)["rid"] == result.rid
    statuses = [r["status"] for r in emulator.requests("/upload/")]
    assert statuses.count(status) == 2 and statuses.count(200) == 3


def test_gateway_error_page_on_an_api_call_is_retried(hook, emulator, tmp_path):
    emulator.faults(fail=[{"path_prefix": "/v2/asset.get_upload_url", "nth": 1, "status": 502, "times": 1}])
    path = tmp_path / "api.mp4"
    digest = make_file(path, 1000)
    result = hook.upload_file(str(path))
    assert one_asset(emulator, digest, 1000)["rid"] == result.rid
    assert [r["status"] for r in emulator.requests("/v2/asset.get_upload_url")] == [502, 200]


def test_an_error_text_with_a_non_retryable_status_is_a_refusal(hook, emulator, tmp_path):
    from airflow_provider_cincopa.exceptions import CincopaUploadError

    emulator.faults(
        malformed=[{"path_prefix": "/upload", "status": 200, "body": "error: out of assets quota", "times": 1}]
    )
    path = tmp_path / "quota.mp4"
    make_file(path, 1000)
    with pytest.raises(CincopaUploadError, match="out of assets quota"):
        hook.upload_file(str(path))
    assert len(emulator.requests("/upload/")) == 1 and emulator.assets() == []


# -- lost answers and crashes around the completing chunk ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("completed_answer", COMPLETED_ANSWERS)
def test_lost_answer_to_the_completing_chunk_ends_with_one_asset(hook, emulator, tmp_path, completed_answer):
    # The 3rd chunk of 3 completes the file and the asset is made, but its answer never arrives.
    emulator.faults(
        drop=[{"path_prefix": "/upload", "nth": 3, "after_handling": True}], completed_answer=completed_answer
    )
    path = tmp_path / "lost.mp4"
    digest = make_file(path, 3 * MiB)
    result = hook.upload_file(str(path), chunk_size=MiB, max_parallel_chunks=1)
    asset = one_asset(emulator, digest, 3 * MiB)
    assert result.rid == asset["rid"] and result.id == int(asset["id"])
    assert [r.get("dropped_answer") for r in emulator.requests("/upload/")].count(True) == 1


def test_lost_answer_of_a_whole_file_in_one_request(hook, emulator, tmp_path):
    emulator.faults(drop=[{"path_prefix": "/upload", "nth": 1, "after_handling": True}], completed_answer="done")
    path = tmp_path / "small.jpg"
    digest = make_file(path, 5000)
    assert hook.upload_file(str(path)).rid == one_asset(emulator, digest, 5000)["rid"]


@pytest.mark.slow
def test_done_without_rid_and_no_asset_starts_over_once(emulator, monkeypatch, tmp_path):
    # Every byte "done" but nothing made (the host lost the file): surely no asset, so send it again.
    set_connection(monkeypatch, "cincopa_default", password=TOKEN, host=emulator.base_url, extra={"retry_deadline": 2})
    emulator.faults(
        malformed=[{"path_prefix": "/upload", "status": 200, "body": "chunk done.\n", "content_type": "text/plain"}]
    )
    path = tmp_path / "again.mp4"
    digest = make_file(path, 4000)
    result = CincopaHook().upload_file(str(path))
    assert one_asset(emulator, digest, 4000)["rid"] == result.rid
    assert len(emulator.requests("/v2/asset.get_upload_url")) == 2


UPLOADER = textwrap.dedent(
    """
    import json, os, sys
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook
    from airflow_provider_cincopa.hooks.upload import ResumeState
    path, state_file = sys.argv[1], sys.argv[2]
    resume = ResumeState.from_json(json.load(open(state_file))) if os.path.exists(state_file) else None
    def save(state):
        json.dump(state.to_json(), open(state_file + ".tmp", "w"))
        os.replace(state_file + ".tmp", state_file)
    result = CincopaHook().upload_file(path, chunk_size=1024 * 1024, max_parallel_chunks=1, resume=resume,
                                       on_state=save)
    print("RID", result.rid)
    """
)


@pytest.mark.emulator
@pytest.mark.parametrize("completed_answer", COMPLETED_ANSWERS)
def test_uploader_killed_right_after_the_completing_chunk_adopts_the_asset(emulator, tmp_path, completed_answer):
    path, state_file = tmp_path / "final.mp4", tmp_path / "state.json"
    size = 4 * MiB
    digest = make_file(path, size)
    # The completing chunk makes the asset, then its answer is held: the kill lands in between.
    emulator.faults(stall_final=20, completed_answer=completed_answer)
    proc = subprocess.Popen([sys.executable, "-c", UPLOADER, str(path), str(state_file)], stdout=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not emulator.assets() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "killed before the answer to the completing chunk"
    asset = one_asset(emulator, digest, size)
    saved = json.loads(state_file.read_text())
    assert saved["rid"] is None and sum(e - s for s, e in saved["done"]) == size - MiB, "the rid never came back"
    emulator.faults(completed_answer=completed_answer)

    out = subprocess.run(
        [sys.executable, "-c", UPLOADER, str(path), str(state_file)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"RID {asset['rid']}" in out.stdout
    assert one_asset(emulator, digest, size)["rid"] == asset["rid"], "no second asset"
    assert json.loads(state_file.read_text())["rid"] == asset["rid"], "a later retry returns it at once"


def test_saved_rid_of_a_deleted_asset_uploads_again(hook, emulator, tmp_path):
    path = tmp_path / "deleted.mp4"
    digest = make_file(path, 2 * MiB)
    states = []
    first = hook.upload_file(str(path), chunk_size=MiB, on_state=lambda s: states.append(s))
    hook.delete_asset(first.rid)
    from airflow_provider_cincopa.hooks.upload import ResumeState

    saved = ResumeState.from_json(states[-1].to_json())
    assert saved is not None and saved.rid == first.rid
    again = hook.upload_file(str(path), chunk_size=MiB, resume=saved)
    assert again.rid != first.rid and one_asset(emulator, digest, 2 * MiB)["rid"] == again.rid


# -- progress ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_progress_is_logged_at_a_steady_pace_with_one_final_line(hook, emulator, tmp_path, capfd):
    path = tmp_path / "progress.mp4"
    make_file(path, 12 * MiB)
    emulator.faults(bandwidth=1 * MiB)  # per request: 2 in flight, ~6 s
    hook.upload_file(str(path), chunk_size=4 * MiB, max_parallel_chunks=2)
    out = capfd.readouterr().out
    progress = re.findall(r"Uploading progress\.mp4: (\d+) of (\d+) bytes sent \(([\d.]+)%\)", out)
    assert progress, out[-3000:]
    assert all(float(pct) < 100 for _, _, pct in progress)
    assert out.count("Uploaded progress.mp4: 12582912 bytes (100%)") == 1
    assert "(100.0%)" not in out, "the 100 % line is the final one only"


# -- failed imports say why -----------------------------------------------------------------------


def test_failed_import_says_what_cincopa_said(hook, emulator, media_server):
    status_id = hook.upload_from_url(f"{media_server.url}/no-such-file.mp4")
    deadline = time.monotonic() + 30
    while (status := hook.get_upload_from_url_status(status_id)).state == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status.state == "failed" and "source answered HTTP 404" in status.message
    assert status.message.count("source answered HTTP 404") == 1, "message and debug say it once"


def test_failed_import_without_a_reason_says_so():
    status = UploadFromUrlStatus.from_answer("st1", {"success": True, "status": "failed"})
    assert status.state == "failed" and status.message == "Cincopa gave no reason (status 'failed')"
