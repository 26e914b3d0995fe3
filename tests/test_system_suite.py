"""
The live suite (tests/system) run as a user would, in a subprocess: with the emulator's URL and
token in place of a Cincopa account's it passes and leaves nothing behind; without a token it
reports itself skipped, never passed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.support import env_without, make_file

pytestmark = pytest.mark.emulator

ROOT = Path(__file__).parent.parent
LIVE_VARIABLES = ("CINCOPA_LIVE_TOKEN", "CINCOPA_LIVE_HOST", "CINCOPA_LIVE_VIDEO", "CINCOPA_LIVE_SOURCE_URL")


def run_live_suite(tmp_path: Path, *args: str, **env: str) -> tuple[dict[str, int], str]:
    """``pytest tests/system`` with its own Airflow home; returns junit's counts and the output."""
    junit = tmp_path / "junit.xml"
    home = tempfile.mkdtemp(prefix="cincopa-live-", dir=tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            f"--junitxml={junit}",
            *args,
            "tests/system",
        ],
        cwd=ROOT,
        env={**env_without("AIRFLOW_CONN_CINCOPA_DEFAULT", *LIVE_VARIABLES), "CINCOPA_TEST_AIRFLOW_HOME": home, **env},
        capture_output=True,
        text=True,
        timeout=900,
    )
    suite = ET.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    counts["returncode"] = done.returncode
    return counts, done.stdout[-4000:] + done.stderr[-2000:]


def test_live_suite_is_skipped_without_a_token(tmp_path):
    counts, output = run_live_suite(tmp_path)
    assert counts["returncode"] == pytest.ExitCode.NO_TESTS_COLLECTED, output
    assert counts["passed"] == 0 and counts["skipped"] >= 1, output
    assert "CINCOPA_LIVE_TOKEN is not set" in output


def assert_nothing_left(emulator) -> None:
    state = emulator.state()
    assert state["assets"] == [] and state["webhooks"] == [], "the run left assets or webhooks behind"
    made = [fid for fid, gallery in state["gallery_contents"].items() if "airflow-system-" in gallery["name"]]
    assert made == [], "the run left its gallery behind"


def live_env(emulator, **more: str) -> dict[str, str]:
    return {"CINCOPA_LIVE_TOKEN": emulator.token, "CINCOPA_LIVE_HOST": emulator.base_url, **more}


def test_live_suite_against_the_emulator_runs_and_cleans_up(emulator, media_server, tmp_path):
    video = tmp_path / "sample.mp4"
    make_file(video, 3 * 1024 * 1024 + 5)
    source = media_server.add("live-intro.mp4", b"i" * 200_000)
    env = live_env(emulator, CINCOPA_LIVE_VIDEO=str(video), CINCOPA_LIVE_SOURCE_URL=source)
    counts, output = run_live_suite(tmp_path, **env)
    assert counts["returncode"] == 0 and counts["skipped"] == 0, output
    assert counts["passed"] == 5, output
    assert_nothing_left(emulator)
    # It did make things: uploads, an import, a gallery (all gone now).
    assert len(emulator.requests("/upload/")) >= 7 and emulator.state()["url_imports"]
    assert os.environ.get("CINCOPA_LIVE_TOKEN") is None, "the subprocess alone had the token"


def test_a_failed_live_test_still_cleans_up(emulator, tmp_path):
    # The gallery test uploads two assets and tags each; Cincopa refuses the second tagging.
    refusal = '{"success": false, "message": "refused by the test"}'
    emulator.faults(fail=[{"path_prefix": "/v2/asset.set_meta", "nth": 2, "status": 200, "body": refusal}])
    counts, output = run_live_suite(tmp_path, "-k", "gallery", **live_env(emulator))
    assert counts["returncode"] == 1 and counts["failures"] == 1 and "refused by the test" in output, output
    assert len(emulator.requests("/upload/")) == 2, "both assets were made (one tagged, one not)"
    assert_nothing_left(emulator)
