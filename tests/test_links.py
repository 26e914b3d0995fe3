"""
The "Cincopa asset" extra link: after a real ``dag.test()`` run against the emulator, the link the
UI shows (the serialised task's link, read from the XCom the worker wrote when the task finished)
opens the asset a task made or touched, is empty when the task made none, and follows the
connection's ``dashboard_url_template``.
"""

from __future__ import annotations

import json

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.links.cincopa import (
    ASSET_XCOM_KEY,
    DEFAULT_DASHBOARD_URL_TEMPLATE,
    CincopaAssetLink,
    dashboard_url,
)
from tests.conftest import DAGS_FOLDER, TOKEN
from tests.support import run_dag, task_states, xcom

LINK = CincopaAssetLink.name


def ui_links(dag_run) -> dict[str, str | None]:
    """``{task_id: link}`` as the API server serves them (the serialised DAG, links from XCom)."""
    from airflow.models.serialized_dag import SerializedDagModel

    dag = SerializedDagModel.get_dag(dag_run.dag_id)
    links = {}
    for ti in dag_run.get_task_instances():
        task = dag.get_task(ti.task_id)
        if LINK in task.extra_links:
            links[ti.task_id] = task.get_extra_links(ti, LINK) or None  # as the API server serves it
    return links


def default_url(rid: str) -> str:
    return DEFAULT_DASHBOARD_URL_TEMPLATE.format(rid=rid)


def test_every_task_that_made_or_touched_an_asset_links_to_it(emulator, airflow_db, tmp_path, media_server):
    video = tmp_path / "linked.mp4"
    video.write_bytes(b"l" * 3000)
    source_url = media_server.add("linked-import.mp4", b"i" * 2000)
    emulator.faults(import_rate=1000)  # two seconds: the deferrable sensor's first poke sees it running
    dr = run_dag(
        DAGS_FOLDER,
        "links_made",
        f"""
        from datetime import datetime
        from airflow.sdk import DAG
        from airflow_provider_cincopa.operators.cincopa import (
            CincopaResyncAssetOperator,
            CincopaSetAssetMetaOperator,
            CincopaSetWebhookOperator,
            CincopaUploadFileOperator,
            CincopaUploadFromUrlOperator,
        )
        from airflow_provider_cincopa.operators.playback import CincopaGetPlaybackLinksOperator
        from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

        with DAG("links_made", schedule=None, start_date=datetime(2026, 1, 1)):
            up = CincopaUploadFileOperator(task_id="upload", source_path={str(video)!r})
            meta = CincopaSetAssetMetaOperator(task_id="meta", rid=up.output, caption="linked")
            resync = CincopaResyncAssetOperator(task_id="resync", rid=up.output)
            play = CincopaGetPlaybackLinksOperator(task_id="playback", rid=up.output)
            up >> meta >> resync >> play
            start = CincopaUploadFromUrlOperator(
                task_id="start_import", source_url={source_url!r}, wait_for_completion=False
            )
            CincopaUploadStatusSensor(task_id="wait_import", status_id=start.output, poke_interval=0.2)
            CincopaUploadStatusSensor(
                task_id="wait_deferred", status_id=start.output, poke_interval=0.2, deferrable=True
            )
            CincopaUploadFromUrlOperator(task_id="import", source_url={source_url!r}, poll_interval=0.2)
            CincopaSetWebhookOperator(task_id="webhook", hook_url="http://127.0.0.1:9/l", security_key="linkkey01")
        """,
    )
    assert dr.state == "success", task_states(dr)
    rid = xcom(dr, "upload")
    imported_rid, waited_rid = xcom(dr, "import"), xcom(dr, "wait_import")
    assert len({rid, imported_rid, waited_rid}) == 3
    assert ui_links(dr) == {
        "upload": default_url(rid),
        "meta": default_url(rid),
        "resync": default_url(rid),
        "playback": default_url(rid),
        "import": default_url(imported_rid),
        "wait_import": default_url(waited_rid),
        "wait_deferred": default_url(waited_rid),
        # It only started an import: no asset exists yet, and the UI shows the button disabled.
        "start_import": None,
    }, "the webhook task has no asset link at all"
    assert xcom_value(dr, "start_import", f"_link_{CincopaAssetLink.__name__}") == ""
    assert xcom_value(dr, "upload", ASSET_XCOM_KEY) == rid
    assert TOKEN not in json.dumps(ui_links(dr))


def test_the_connection_overrides_the_dashboard_url(emulator, airflow_db, tmp_path, monkeypatch):
    from tests.conftest import set_connection

    extra = {"dashboard_url_template": "https://media.example.com/library/{rid}/edit"}
    set_connection(monkeypatch, "cincopa_custom", password=TOKEN, host=emulator.base_url, extra=extra)
    bad = {"dashboard_url_template": "https://media.example.com/library/{fid}"}
    set_connection(monkeypatch, "cincopa_bad_template", password=TOKEN, host=emulator.base_url, extra=bad)
    video = tmp_path / "custom.mp4"
    video.write_bytes(b"c" * 1500)
    dr = run_dag(
        DAGS_FOLDER,
        "links_custom",
        f"""
        from datetime import datetime
        from airflow.sdk import DAG, task
        from airflow_provider_cincopa.links.cincopa import CincopaAssetLink
        from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator, CincopaResyncAssetOperator

        with DAG("links_custom", schedule=None, start_date=datetime(2026, 1, 1)):
            up = CincopaUploadFileOperator(
                task_id="upload", source_path={str(video)!r}, cincopa_conn_id="cincopa_custom"
            )
            resync = CincopaResyncAssetOperator(task_id="resync", rid=up.output, cincopa_conn_id="cincopa_bad_template")

            @task
            def probe(ti=None, dag=None) -> dict:
                # get_link itself, called where Airflow calls it: in a running task, XCom at hand.
                from airflow.models.taskinstancekey import TaskInstanceKey

                def link(task_id):
                    key = TaskInstanceKey(ti.dag_id, task_id, ti.run_id, 1, -1)
                    return CincopaAssetLink().get_link(dag.get_task(task_id), ti_key=key)

                return {{"upload": link("upload"), "resync": link("resync"), "probe": link("probe")}}

            resync >> probe()
        """,
    )
    assert dr.state == "success", task_states(dr)
    rid = xcom(dr, "upload")
    links = ui_links(dr)
    assert links["upload"] == f"https://media.example.com/library/{rid}/edit"
    # A template without {rid} gives no link (and an error in the task log), not a failed task.
    assert links["resync"] is None
    assert xcom(dr, "probe") == {"upload": links["upload"], "resync": "", "probe": ""}


def xcom_value(dag_run, task_id: str, key: str):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key=key)
        found = row.one_or_none()
        return None if found is None else found.value


# -- the URL pattern --------------------------------------------------------------------------


def test_dashboard_url_default_and_quoting():
    assert dashboard_url("Ao7CludB5G-u") == "https://www.cincopa.com/media-platform/assets?rid=Ao7CludB5G-u"
    assert dashboard_url("a/b?c", "https://x.example/{rid}") == "https://x.example/a%2Fb%3Fc"


@pytest.mark.parametrize(
    "template",
    ["https://x.example/assets", "https://x.example/{fid}/{rid}", "ftp://x.example/{rid}", "https://x.example/{rid"],
)
def test_dashboard_url_refuses_a_bad_template_naming_it(template):
    with pytest.raises(CincopaInputError, match="dashboard_url_template") as err:
        dashboard_url("Ao7CludB5G-u", template)
    assert template in str(err.value)
