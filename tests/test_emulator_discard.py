"""The emulator's ``--discard-uploads`` (what the upload benchmark runs against): bytes counted, none kept."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from airflow_provider_cincopa.emulator.testing import EmulatorProcess

pytestmark = pytest.mark.emulator

MiB = 1024 * 1024
TOKEN = "DISCARDTOKEN0123456789"


def test_discarding_emulator_counts_every_byte_and_keeps_none(tmp_path, monkeypatch):
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    path = tmp_path / "clip.mp4"
    path.write_bytes(os.urandom(5 * MiB + 123))
    with EmulatorProcess(token=TOKEN, extra_args=["--discard-uploads"]) as emulator:
        conn = {"conn_type": "cincopa", "password": TOKEN, "host": emulator.base_url}
        monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", json.dumps(conn))
        hook = CincopaHook()
        try:
            result = hook.upload_file(str(path), chunk_size=MiB, max_parallel_chunks=3)
        finally:
            hook.close()
        state = emulator.state()
    [asset] = [a for a in state["assets"] if a["rid"] == result.rid]
    uploads = [r for r in state["requests"] if r["path"].startswith("/upload/")]
    size = path.stat().st_size
    assert asset["size"] == size, "the asset has the file's size"
    assert asset["sha256"] == hashlib.sha256(bytes(size)).hexdigest(), "its content reads as zeros: nothing kept"
    assert sum(r["body_length"] for r in uploads) == size, "every byte was received and counted"
