"""The connection extra ``max_parallel_chunks``: every upload's default, an explicit argument wins."""

from __future__ import annotations

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.hooks import _parallel
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from tests.support import make_file

pytestmark = pytest.mark.emulator

CHUNK = 256 * 1024


def most_alongside(emulator, tmp_path, monkeypatch, **upload_kwargs) -> int:
    """Upload 4 chunks through ``cincopa_default``; return the most upload requests seen at once."""
    # Every path counts as fast, and the host takes 0.3 s to answer each chunk it has read: chunks
    # overlap only as far as max_parallel_chunks lets them (tests/test_upload.py's overlap test).
    monkeypatch.setattr(_parallel, "FAST", 0.0)
    emulator.reset()
    emulator.faults(latency={"path_prefix": "/upload/", "seconds": 0.3, "after_body": True})
    path = tmp_path / "clip.mp4"
    digest = make_file(path, 4 * CHUNK)
    hook = CincopaHook()
    try:
        result = hook.upload_file(str(path), chunk_size=CHUNK, **upload_kwargs)
    finally:
        hook.close()
    requests = emulator.requests("/upload/")
    assert len(requests) == 4
    [asset] = [a for a in emulator.assets() if a["rid"] == result.rid]
    assert asset["sha256"] == digest
    return max(r["alongside"] for r in requests)


def test_connection_extra_turns_parallel_chunks_off(emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(max_parallel_chunks=1))
    assert most_alongside(emulator, tmp_path, monkeypatch) == 0, "one chunk at a time, as Cincopa's uploader"


def test_connection_extra_sets_the_default_and_an_argument_wins(emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(max_parallel_chunks="2"))
    assert most_alongside(emulator, tmp_path, monkeypatch) == 1
    assert most_alongside(emulator, tmp_path, monkeypatch, max_parallel_chunks=3) == 2, "the call's own wins"


@pytest.mark.parametrize("bad", [0, -2, 1.5, "many"])
def test_bad_extra_is_a_named_input_error(emulator, monkeypatch, bad):
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(max_parallel_chunks=bad))
    with pytest.raises(CincopaInputError, match="max_parallel_chunks"):
        CincopaHook().settings  # noqa: B018 - reading the connection is what fails
