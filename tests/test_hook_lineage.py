"""Hook-level lineage: TaskFlow code calling the hook reports what it read and wrote, seen by OpenLineage."""

from __future__ import annotations

import os
import textwrap

import pytest

from tests.conftest import DAGS_FOLDER
from tests.support import lineage_of, make_file, openlineage_events

pytestmark = pytest.mark.emulator

TASKFLOW_DAG = """
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_cincopa.hooks.cincopa import CincopaHook


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def hook_lineage():
    @task
    def up() -> str:
        return CincopaHook().upload_file({video!r}).rid

    @task
    def down(rid: str) -> None:
        CincopaHook().download_version(rid, {copy!r})

    @task
    def quiet() -> None:
        CincopaHook(cincopa_conn_id="cincopa_quiet").upload_file({video!r}, filename="quiet.mp4")

    quiet() >> down(up())


hook_lineage()
"""


def test_taskflow_upload_and_download_report_lineage_and_the_extra_turns_it_off(emulator, airflow_db, tmp_path):
    video = tmp_path / "hooked.mp4"
    make_file(video, 3000)
    copy = tmp_path / "copy.mp4"
    (DAGS_FOLDER / "hook_lineage.py").write_text(textwrap.dedent(TASKFLOW_DAG).format(video=str(video), copy=str(copy)))
    quiet = emulator.connection_json(lineage=False)
    events = openlineage_events("hook_lineage", airflow_db, tmp_path, AIRFLOW_CONN_CINCOPA_QUIET=quiet)
    rids = {a["filename"]: a["rid"] for a in emulator.assets()}
    assert copy.read_bytes() == video.read_bytes()
    asset = ("cincopa://asset", rids["hooked.mp4"])
    assert lineage_of(events["up"]) == ([("file", str(video))], [asset])
    # `airflow dags test` runs every task in one process, whose collector keeps what the tasks
    # before reported (a worker runs each task in a process of its own): hence `up`'s datasets too.
    assert lineage_of(events["down"]) == (
        [("file", str(video)), asset],
        [asset, ("file", str(copy))],
    )
    assert "quiet.mp4" in rids, "the quiet task uploaded"
    assert lineage_of(events["quiet"]) == ([], []), "lineage: false in the extra"


def test_source_uris_leave_out_passwords_queries_and_connection_ids(tmp_path):
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_cincopa.hooks._lineage import source_uri

    assert source_uri(tmp_path / "a b.mp4") == f"file://{tmp_path}/a b.mp4"
    assert source_uri("relative.mp4") == f"file://{os.path.abspath('relative.mp4')}"
    assert source_uri("file:///data/x.mp4") == "file:///data/x.mp4"
    assert source_uri("https://bob:PW@cdn.example/v/x.mp4?sig=SECRET#t=1") == "https://cdn.example/v/x.mp4"
    assert source_uri("s3://KEY:SECRET@bucket/in/x.mp4") == "s3://bucket/in/x.mp4"
    assert source_uri(ObjectStoragePath("s3://aws_default@bucket/in/x.mp4")) == "s3://bucket/in/x.mp4"


@pytest.mark.parametrize(("extra", "expected"), [({}, True), ({"lineage": False}, False), ({"lineage": "off"}, False)])
def test_the_lineage_switch(emulator, monkeypatch, extra, expected):
    from airflow_provider_cincopa.hooks._lineage import lineage_enabled
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(**extra))
    hook = CincopaHook()
    assert lineage_enabled(hook) is expected
    hook.lineage = not expected
    assert lineage_enabled(hook) is (not expected), "the hook's own attribute decides over the extra"


def test_a_bad_lineage_extra_is_refused_by_name_before_anything_is_sent(emulator, monkeypatch, tmp_path):
    from airflow_provider_cincopa.exceptions import CincopaInputError
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(lineage="sometimes"))
    video = tmp_path / "v.mp4"
    make_file(video, 100)
    with pytest.raises(CincopaInputError, match="extra lineage='sometimes': use true or false"):
        CincopaHook().upload_file(str(video))
    assert emulator.requests("/v2/asset.get_upload_url") == []


def test_operators_that_report_facets_turn_hook_lineage_off():
    from airflow_provider_cincopa.operators.cincopa import CincopaDeleteAssetOperator, CincopaUploadFileOperator
    from airflow_provider_cincopa.operators.export import CincopaDownloadAssetOperator

    assert CincopaUploadFileOperator(task_id="u", source_path="/x.mp4").hook.lineage is False
    assert CincopaDownloadAssetOperator(task_id="d", rid="r", destination_path="/tmp/x").hook.lineage is False
    assert CincopaDeleteAssetOperator(task_id="x", rid="r").hook.lineage is None
