"""Operators, sensor and trigger run by real Airflow (``dag.test()``) against the emulator."""

from __future__ import annotations

import asyncio
import importlib
import re
import textwrap
import time

import pytest

from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger
from tests.conftest import DAGS_FOLDER
from tests.support import has_task_state_store, make_file, run_dag, task_states, xcom

MiB = 1024 * 1024
HEADER = """
from datetime import datetime, timedelta
from airflow.sdk import DAG, Asset, task
from airflow_provider_cincopa.operators.cincopa import *
from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor
"""


def dag_source(dag_id: str, body: str, retries: int = 0) -> str:
    return HEADER + (
        f"with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1), "
        f"default_args={{'retries': {retries}, 'retry_delay': timedelta(seconds=0)}}):\n"
        + "\n".join("    " + line for line in textwrap.dedent(body).strip().splitlines())
        + "\n"
    )


def run(dag_id: str, body: str, retries: int = 0):
    return run_dag(DAGS_FOLDER, dag_id, dag_source(dag_id, body, retries))


def ranges_sent(emulator) -> list[tuple[int, int, int]]:
    """(start, end, HTTP status) of every upload request, in arrival order."""
    out = []
    for r in emulator.requests("/upload/"):
        start, end = map(int, re.match(r"bytes (\d+)-(\d+)/", r["headers"]["content-range"]).groups())
        out.append((start, end, r["status"]))
    return out


# -- upload file -----------------------------------------------------------------------------


def test_upload_file_operator_uploads_sets_meta_and_emits_asset(emulator, airflow_db, tmp_path):
    video = tmp_path / "launch.mp4"
    digest = make_file(video, 3 * MiB + 5)
    dr = run(
        "op_upload",
        f"""
        up = CincopaUploadFileOperator(task_id="up", source_path={str(video)!r}, chunk_size={MiB},
            caption="Launch", tags=["a", "b"], reference_id="ref-1", outlets=[Asset("cincopa_test_media")])
        """,
    )
    assert dr.state == "success", task_states(dr)
    rid = xcom(dr, "up")
    [asset] = emulator.assets()
    assert (asset["rid"], asset["sha256"], asset["caption"], asset["tags"]) == (rid, digest, "Launch", "a,b")
    assert len(emulator.requests("/v2/asset.set_meta")) == 1, "metadata goes in one set_meta call"

    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dr.run_id).all()
        assert [e.extra.get("rid") for e in events] == [rid]


def test_upload_file_operator_with_dynamic_mapping(emulator, airflow_db, tmp_path):
    paths = []
    for i in range(3):
        path = tmp_path / f"clip{i}.mp4"
        make_file(path, 1000 + i, seed=i)
        paths.append(str(path))
    dr = run(
        "op_upload_mapped",
        f"""
        CincopaUploadFileOperator.partial(task_id="up", tags="bulk").expand(source_path={paths!r})
        """,
    )
    assert dr.state == "success", task_states(dr)
    assert sorted(a["filename"] for a in emulator.assets()) == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert {xcom(dr, "up", i) for i in range(3)} == {a["rid"] for a in emulator.assets()}


def test_meta_fields_take_default_args_templates_and_mapping(emulator, airflow_db, tmp_path):
    # The seven fields come from one mixin: default_args still fill them, they are still rendered,
    # and partial()/expand() still accept them, as when each operator named them itself.
    video = tmp_path / "meta.mp4"
    make_file(video, 700)
    source = HEADER + textwrap.dedent(
        f"""
        with DAG("op_meta_fields", schedule=None, start_date=datetime(2026, 1, 1),
                 default_args={{"related_link_text": "More"}}):
            up = CincopaUploadFileOperator(task_id="up", source_path={str(video)!r}, caption="{{{{ dag.dag_id }}}}")
            CincopaSetAssetMetaOperator.partial(task_id="meta", rid=up.output).expand(tags=[["x"], ["y", "z"]])
        """
    )
    dr = run_dag(DAGS_FOLDER, "op_meta_fields", source)
    assert dr.state == "success", task_states(dr)
    [asset] = emulator.assets()
    assert (asset["caption"], asset["related_link_text"]) == ("op_meta_fields", "More")
    sets = [r["query"] for r in emulator.requests("/v2/asset.set_meta")]
    assert sorted(q["tags"] for q in sets[1:]) == ["x", "y,z"]
    assert all(q["related_link_text"] == "More" for q in sets), "default_args reach every operator's fields"
    assert sets[0]["caption"] == "op_meta_fields" and not any("caption" in q for q in sets[1:])


def test_failed_try_resumes_with_only_missing_ranges(emulator, airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(retries=1, retry_deadline=5))
    video = tmp_path / "flaky.mp4"
    digest = make_file(video, 5 * MiB)
    # The 3rd chunk fails twice: its retry budget (1 retry) runs out and the first try fails.
    emulator.faults(fail=[{"path_prefix": "/upload", "nth": 3, "status": 500, "times": 2}])
    dr = run(
        "op_upload_resume",
        f"""
        CincopaUploadFileOperator(task_id="up", source_path={str(video)!r}, chunk_size={MiB},
            max_parallel_chunks=1)
        """,
        retries=1,
    )
    assert dr.state == "success", task_states(dr)
    [ti] = dr.get_task_instances()
    assert ti.try_number == 2
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and xcom(dr, "up") == asset["rid"]
    accepted = [(s, e) for s, e, status in ranges_sent(emulator) if status == 200]
    every_range = [(i * MiB, (i + 1) * MiB) for i in range(5)]
    if has_task_state_store():
        assert sorted(accepted) == every_range, "no range sent twice"
    else:
        # Below Airflow 3.3 (no task_state_store) the retry restarts the upload: it sends every
        # range again, one at a time, after the ranges the first try had sent.
        first_try, retry = accepted[:-5], accepted[-5:]
        assert retry == every_range and first_try and set(first_try) < set(every_range)


def test_retry_after_finished_upload_returns_same_rid(emulator, airflow_db, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(retries=0))
    video = tmp_path / "done.mp4"
    make_file(video, 2000)
    # Upload succeeds, then set_meta fails (a transient 503): no retry may upload a second asset.
    emulator.faults(fail=[{"path_prefix": "/v2/asset.set_meta", "nth": 1, "status": 503, "times": 1}])
    dr = run(
        "op_upload_done_retry",
        f"""
        CincopaUploadFileOperator(task_id="up", source_path={str(video)!r}, caption="Once")
        """,
        retries=1,
    )
    [asset] = emulator.assets()
    assert len(emulator.requests("/upload/")) == 1
    if has_task_state_store():
        # Airflow 3.3+ with a Fernet key: the retry adopts the finished upload and sets the caption.
        assert dr.state == "success", task_states(dr)
        assert asset["caption"] == "Once" and xcom(dr, "up") == asset["rid"]
    else:
        # Below 3.3 a retry could not find the asset: the task fails at once, naming it.
        assert dr.state == "failed" and asset["caption"] == ""
        [ti] = dr.get_task_instances()
        assert ti.try_number == 1


def test_upload_failure_fails_task_with_clear_error(emulator, airflow_db, tmp_path):
    dr = run("op_upload_missing", 'CincopaUploadFileOperator(task_id="up", source_path="/no/such/video.mp4")')
    assert dr.state == "failed"
    assert emulator.requests("/upload/") == []


# -- upload from URL, sensor, trigger --------------------------------------------------------


@pytest.mark.parametrize("deferrable", [False, True])
def test_upload_from_url_operator_waits_for_rid(emulator, airflow_db, media_server, deferrable):
    url = media_server.add(f"u{deferrable}.mp4", b"u" * 20_000)
    dr = run(
        f"op_from_url_{deferrable}",
        f"""
        CincopaUploadFromUrlOperator(task_id="imp", source_url={url!r}, poll_interval=0.2,
            deferrable={deferrable}, outlets=[Asset("cincopa_imported_media")])
        """,
    )
    assert dr.state == "success", task_states(dr)
    [asset] = emulator.assets()
    assert xcom(dr, "imp") == asset["rid"] and asset["size"] == 20_000


def test_upload_from_url_without_waiting_returns_status_id(emulator, airflow_db, media_server):
    url = media_server.add("nowait.mp4", b"n" * 100)
    dr = run(
        "op_from_url_nowait",
        f'CincopaUploadFromUrlOperator(task_id="imp", source_url={url!r}, wait_for_completion=False)',
    )
    assert dr.state == "success"
    status_id = xcom(dr, "imp")
    assert status_id == emulator.state()["url_imports"][0]["status_id"]


def test_upload_from_url_failure_and_timeout_abort(emulator, airflow_db, media_server):
    dr = run(
        "op_from_url_404",
        f'CincopaUploadFromUrlOperator(task_id="imp", source_url="{media_server.url}/missing.mp4", poll_interval=0.2)',
    )
    assert dr.state == "failed"
    emulator.reset()
    emulator.faults(import_rate=1000)
    url = media_server.add("slowimport.mp4", b"s" * 200_000)
    dr = run(
        "op_from_url_timeout",
        f'CincopaUploadFromUrlOperator(task_id="imp", source_url={url!r}, '
        "poll_interval=0.2, timeout=1, abort_on_timeout=True)",
    )
    assert dr.state == "failed"
    [imported] = emulator.state()["url_imports"]
    assert imported["status"] == "aborted" and emulator.assets() == []


def test_upload_from_url_retry_reconnects_instead_of_duplicating(emulator, airflow_db, media_server, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(retries=0))
    emulator.faults(import_rate=50_000)
    url = media_server.add("reconnect.mp4", b"r" * 100_000)
    # The first status call fails: try 1 dies after the import started; try 2 must reconnect.
    emulator.faults(
        import_rate=50_000,
        fail=[{"path_prefix": "/v2/asset.upload_from_url_get_status", "nth": 1, "status": 500, "times": 1}],
    )
    dr = run(
        "op_from_url_reconnect",
        f'CincopaUploadFromUrlOperator(task_id="imp", source_url={url!r}, poll_interval=0.2)',
        retries=1,
    )
    assert dr.state == "success", task_states(dr)
    if has_task_state_store():
        assert len(emulator.requests("/v2/asset.upload_from_url.json")) == 1
        assert len(emulator.assets()) == 1
    else:
        # Below Airflow 3.3 (no task_state_store) the retry cannot know the first import: it starts
        # a second one and returns that one's asset.
        first, second = emulator.state()["url_imports"]
        assert len(emulator.requests("/v2/asset.upload_from_url.json")) == 2
        assert second["status"] == "done" and xcom(dr, "imp") == second["resid"] != first.get("resid")


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_sensor_modes_push_rid(emulator, airflow_db, media_server, mode):
    url = media_server.add(f"sensor-{mode}.mp4", b"x" * 30_000)
    emulator.faults(import_rate=60_000)
    extra = "deferrable=True" if mode == "deferrable" else f"mode={mode!r}"
    dr = run(
        f"sensor_{mode}",
        f"""
        imp = CincopaUploadFromUrlOperator(task_id="imp", source_url={url!r}, wait_for_completion=False)
        wait = CincopaUploadStatusSensor(task_id="wait", status_id=imp.output, poke_interval=0.2,
            timeout=60, {extra})
        meta = CincopaSetAssetMetaOperator(task_id="meta", rid=wait.output, tags="sensed")
        imp >> wait >> meta
        """,
    )
    assert dr.state == "success", task_states(dr)
    [asset] = emulator.assets()
    assert xcom(dr, "wait") == asset["rid"] and asset["tags"] == "sensed"


@pytest.mark.parametrize("deferrable", [False, True])
def test_sensor_fails_at_once_on_failed_import(emulator, airflow_db, media_server, deferrable):
    dr = run(
        f"sensor_fail_{deferrable}",
        f"""
        imp = CincopaUploadFromUrlOperator(task_id="imp", source_url="{media_server.url}/nothing.mp4",
            wait_for_completion=False)
        CincopaUploadStatusSensor(task_id="wait", status_id=imp.output, poke_interval=0.2, timeout=60,
            deferrable={deferrable}, retries=3)
        """,
    )
    assert task_states(dr)["wait"] == "failed"
    [wait] = [ti for ti in dr.get_task_instances() if ti.task_id == "wait"]
    assert wait.try_number == 1, "a failed import is final: no retries spent on it"


@pytest.mark.parametrize("deferrable", [False, True])
def test_sensor_soft_fail_on_timeout_skips(emulator, airflow_db, media_server, deferrable):
    emulator.faults(import_rate=1000)
    url = media_server.add(f"never{deferrable}.mp4", b"z" * 500_000)
    dr = run(
        f"sensor_soft_{deferrable}",
        f"""
        imp = CincopaUploadFromUrlOperator(task_id="imp", source_url={url!r}, wait_for_completion=False)
        CincopaUploadStatusSensor(task_id="wait", status_id=imp.output, poke_interval=0.2, timeout=1,
            soft_fail=True, deferrable={deferrable})
        """,
    )
    assert task_states(dr)["wait"] == "skipped"


def test_trigger_serialisation_round_trip_has_no_secret():
    trigger = CincopaUploadStatusTrigger(status_id="st-1", cincopa_conn_id="c", poll_interval=3, end_time=12.5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_cincopa.triggers.cincopa.CincopaUploadStatusTrigger"
    assert kwargs == {
        "status_id": "st-1",
        "cincopa_conn_id": "c",
        "poll_interval": 3,
        "end_time": 12.5,
        "abort_on_kill": False,
    }
    module, _, name = classpath.rpartition(".")
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)


async def test_trigger_events(emulator, media_server):
    ok = CincopaUploadStatusTrigger(status_id=_start(media_server, "t.mp4", 1000), poll_interval=0.1)
    event = await asyncio.wait_for(ok.run().__anext__(), 20)
    assert event.payload["status"] == "success" and event.payload["rid"]

    failed = CincopaUploadStatusTrigger(status_id=_start_missing(media_server), poll_interval=0.1)
    event = await asyncio.wait_for(failed.run().__anext__(), 20)
    assert event.payload["status"] == "failed" and "404" in event.payload["message"]

    bad = CincopaUploadStatusTrigger(status_id="nosuchstatus", poll_interval=0.1)
    event = await asyncio.wait_for(bad.run().__anext__(), 20)
    assert event.payload["status"] == "error" and "status_id" in event.payload["message"]

    emulator.faults(import_rate=100)
    late = CincopaUploadStatusTrigger(
        status_id=_start(media_server, "late.mp4", 100_000), poll_interval=0.1, end_time=time.time() + 0.5
    )
    event = await asyncio.wait_for(late.run().__anext__(), 20)
    assert event.payload["status"] == "timeout"


def _start_missing(media_server) -> str:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    return CincopaHook().upload_from_url(f"{media_server.url}/not-there.mp4")


def test_sensor_turns_trigger_events_into_results():
    from airflow_provider_cincopa._compat import AirflowSensorTimeout  # the class Airflow's task runner catches
    from airflow_provider_cincopa.exceptions import CincopaImportFailedError, CincopaUploadFromUrlError
    from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

    sensor = CincopaUploadStatusSensor(task_id="s", status_id="st-1", deferrable=True)
    event = {"status_id": "st-1", "rid": None, "message": "why"}
    assert sensor.execute_complete({}, {**event, "status": "success", "rid": "AAAAAAAAAAAA"}) == "AAAAAAAAAAAA"
    with pytest.raises(CincopaImportFailedError, match="why"):
        sensor.execute_complete({}, {**event, "status": "failed"})
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete({}, {**event, "status": "timeout"})
    with pytest.raises(CincopaUploadFromUrlError) as err:
        sensor.execute_complete({}, {**event, "status": "error"})
    assert not isinstance(err.value, CincopaImportFailedError), "an error talking to Cincopa may pass: retry"


def _start(media_server, name: str, size: int) -> str:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    return CincopaHook().upload_from_url(media_server.add(name, b"t" * size))


# -- thin operators --------------------------------------------------------------------------


def test_thin_operators(emulator, airflow_db, tmp_path, media_server):
    video = tmp_path / "thin.mp4"
    make_file(video, 500)
    emulator.faults(import_rate=1000)
    slow = media_server.add("abortme.mp4", b"a" * 100_000)
    dr = run(
        "op_thin",
        f"""
        up = CincopaUploadFileOperator(task_id="up", source_path={str(video)!r})
        meta = CincopaSetAssetMetaOperator(task_id="meta", rid=up.output, caption="C", tags="x, y")
        resync = CincopaResyncAssetOperator(task_id="resync", rid=up.output)
        hook_set = CincopaSetWebhookOperator(task_id="hook_set", hook_url="http://127.0.0.1:9/w",
            events="asset.*", security_key="sekrit-key-1")
        slack = CincopaSetSlackWebhookOperator(task_id="slack", hook_url="https://hooks.slack.example/T/B/X",
            slack_channel="#media")
        hook_del = CincopaDeleteWebhookOperator(task_id="hook_del", hook_url="http://127.0.0.1:9/w")
        hook_del_again = CincopaDeleteWebhookOperator(task_id="hook_del_again", hook_url="http://127.0.0.1:9/w",
            missing_ok=True)
        imp = CincopaUploadFromUrlOperator(task_id="imp", source_url={slow!r}, wait_for_completion=False)
        abort = CincopaAbortUploadOperator(task_id="abort", status_id=imp.output)
        delete = CincopaDeleteAssetOperator(task_id="delete", rid=up.output)
        delete_again = CincopaDeleteAssetOperator(task_id="delete_again", rid=up.output, missing_ok=True)
        up >> meta >> resync >> delete >> delete_again
        hook_set >> slack >> hook_del >> hook_del_again
        imp >> abort
        """,
    )
    assert dr.state == "success", task_states(dr)
    assert xcom(dr, "delete") is True and xcom(dr, "delete_again") is False
    assert xcom(dr, "hook_del") is True and xcom(dr, "hook_del_again") is False
    assert xcom(dr, "meta") == xcom(dr, "up")
    state = emulator.state()
    assert state["assets"] == []
    assert [w["hook_url"] for w in state["webhooks"]] == ["https://hooks.slack.example/T/B/X"]
    assert state["url_imports"][0]["status"] == "aborted"
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        rtif = session.query(RenderedTaskInstanceFields).filter_by(dag_id="op_thin", task_id="hook_set").one()
        assert rtif.rendered_fields["security_key"] == "***", "the security key is masked in rendered fields"
        assert rtif.rendered_fields["hook_url"] == "http://127.0.0.1:9/w"
        slack = session.query(RenderedTaskInstanceFields).filter_by(dag_id="op_thin", task_id="slack").one()
        assert slack.rendered_fields["hook_url"] == "***", "a Slack webhook URL is a credential"
    meta_request = emulator.requests("/v2/asset.set_meta")[0]
    assert meta_request["query"]["tags"] == "x,y"


def test_delete_unknown_asset_without_missing_ok_fails(emulator, airflow_db):
    dr = run("op_delete_unknown", 'CincopaDeleteAssetOperator(task_id="d", rid="NOSUCHRID123")')
    assert dr.state == "failed"


async def test_trigger_on_kill_aborts_only_an_owned_import(emulator, media_server):
    emulator.faults(import_rate=1000)
    watched = _start(media_server, "watched.mp4", 100_000)
    await CincopaUploadStatusTrigger(status_id=watched).on_kill()
    owned = _start(media_server, "owned.mp4", 100_000)
    await CincopaUploadStatusTrigger(status_id=owned, abort_on_kill=True).on_kill()
    statuses = {i["status_id"]: i["status"] for i in emulator.state()["url_imports"]}
    assert statuses == {watched: "inprogress", owned: "aborted"}


def kill_while_running(op, started, error_type) -> Exception:
    """Run ``op.execute`` in a thread, call ``on_kill`` once ``started()``, as Airflow would; return the error."""
    import threading

    errors: list[Exception] = []

    def execute() -> None:
        try:
            op.execute(context={})
        except error_type as exc:
            errors.append(exc)

    worker = threading.Thread(target=execute)
    worker.start()
    while not started():
        time.sleep(0.05)
    op.on_kill()
    worker.join(timeout=60)
    assert errors, f"on_kill did not end the task with a {error_type.__name__}"
    return errors[0]


def test_operator_on_kill_aborts_its_import(emulator, media_server):
    from airflow_provider_cincopa.exceptions import CincopaUploadFromUrlError
    from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator

    emulator.faults(import_rate=1000)
    source = media_server.add("kill.mp4", b"k" * 100_000)
    op = CincopaUploadFromUrlOperator(task_id="imp", source_url=source, poll_interval=0.1)
    op.on_kill()  # nothing started yet: nothing to abort
    assert emulator.state()["url_imports"] == []
    error = kill_while_running(op, lambda: emulator.state()["url_imports"], CincopaUploadFromUrlError)
    [record] = emulator.state()["url_imports"]
    assert record["status"] == "aborted" and f"import {record['status_id']} failed" in str(error)


def test_operator_on_kill_before_the_status_id_arrives_aborts_the_import(emulator, media_server):
    """A kill after Cincopa started the import but before its answer arrived still aborts it."""
    from airflow_provider_cincopa.exceptions import CincopaUploadFromUrlError
    from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator

    # The import exists in Cincopa while its answer (the status_id) is held back.
    held = {"path_prefix": "/v2/asset.upload_from_url.json", "seconds": 1.5, "after_body": True}
    emulator.faults(import_rate=1000, latency=held)
    source = media_server.add("kill-early.mp4", b"k" * 100_000)
    op = CincopaUploadFromUrlOperator(task_id="imp", source_url=source, poll_interval=0.1)
    error = kill_while_running(op, lambda: emulator.state()["url_imports"], CincopaUploadFromUrlError)
    [record] = emulator.state()["url_imports"]
    assert record["status"] == "aborted" and f"import {record['status_id']} failed" in str(error)


def test_upload_operator_on_kill_stops_sending(emulator, tmp_path):
    from airflow_provider_cincopa.exceptions import CincopaUploadError
    from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator

    video = tmp_path / "stop.mp4"
    make_file(video, 16 * MiB)
    emulator.faults(bandwidth=2 * MiB)
    op = CincopaUploadFileOperator(task_id="up", source_path=str(video), chunk_size=MiB, max_parallel_chunks=1)
    error = kill_while_running(op, lambda: emulator.state()["uploads"], CincopaUploadError)
    assert "cancelled" in str(error)
    assert emulator.assets() == []
    assert len(emulator.requests("/upload/")) < 16
