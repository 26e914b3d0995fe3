"""Hook-level lineage: TaskFlow code calling the hook reports what it read and wrote, seen by OpenLineage."""

from __future__ import annotations

import json
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

    uploaded = up()
    quiet() >> uploaded
    down(uploaded)


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


IMPORT_DAG = """
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_cincopa.hooks.cincopa import CincopaHook


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def hook_lineage_import():
    @task
    def imp() -> None:
        import json

        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector

        hook = CincopaHook()
        hook.wait_for_upload_from_url(hook.upload_from_url({url!r}), poll_interval=0.2, timeout=120)
        collected = get_hook_lineage_collector().collected_assets
        seen = [[info.asset.uri for info in side] for side in (collected.inputs, collected.outputs)]
        with open({seen_file!r}, "w") as f:
            json.dump(seen, f)

    imp()


hook_lineage_import()
"""


def test_taskflow_url_import_reports_the_url_without_its_secrets_and_the_asset(
    emulator, airflow_db, tmp_path, media_server
):
    url = media_server.add("imported.mp4", b"i" * 4000)
    signed = url.replace("http://", "http://bob:PASSWORD1@") + "?sig=SECRET1"
    signed += "#t=1"
    seen_file = tmp_path / "collected.json"
    source = textwrap.dedent(IMPORT_DAG).format(url=signed, seen_file=str(seen_file))
    (DAGS_FOLDER / "hook_lineage_import.py").write_text(source)
    events = openlineage_events("hook_lineage_import", airflow_db, tmp_path)
    [asset] = emulator.assets()
    # The collector got the URL without its password, query and fragment. No installed provider
    # converts an http(s) asset to an OpenLineage dataset, so OpenLineage drops that input (the
    # operator names the URL in its own facets).
    assert json.loads(seen_file.read_text()) == [[url], [f"cincopa://asset/{asset['rid']}"]]
    assert lineage_of(events["imp"]) == ([], [("cincopa://asset", asset["rid"])])
    written = (tmp_path / "ol.jsonl").read_text()
    assert "SECRET1" not in written and "PASSWORD1" not in written


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
