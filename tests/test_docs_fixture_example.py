"""
The emulator in your own DAG tests: the pytest fixture the docs show (docs/emulator.md includes
this file), run here as it is so the example cannot rot.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest

from airflow_provider_cincopa.emulator.testing import EmulatorProcess, running_emulator
from airflow_provider_cincopa.hooks.cincopa import CincopaHook

pytestmark = pytest.mark.emulator


@pytest.fixture
def cincopa(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorProcess]:
    """A fresh emulator on loopback, and the ``cincopa_default`` connection pointing at it."""
    token = secrets.token_hex(16)
    with running_emulator(token) as emulator:
        conn = {"conn_type": "cincopa", "password": token, "host": emulator.base_url}
        monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", json.dumps(conn))
        yield emulator


def test_my_pipeline_step_tags_the_asset(cincopa: EmulatorProcess, tmp_path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0" * 100_000)
    hook = CincopaHook()
    rid = hook.upload_file(str(video)).rid
    hook.set_meta(rid, tags=["reviewed"])  # the step under test would do this

    [asset] = cincopa.state()["assets"]  # what the emulator holds
    assert (asset["rid"], asset["tags"]) == (rid, "reviewed")


def test_my_pipeline_step_survives_a_flaky_cincopa(cincopa: EmulatorProcess, tmp_path) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\1" * 50_000)
    # The first upload request answers 503; the hook retries it with backoff.
    cincopa.faults(fail=[{"path_prefix": "/upload", "nth": 1, "status": 503}])
    rid = CincopaHook().upload_file(str(video)).rid
    assert [a["rid"] for a in cincopa.state()["assets"]] == [rid]
