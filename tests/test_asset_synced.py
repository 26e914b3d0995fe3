"""
``CincopaAssetSyncedSensor``: waiting for an asset's versions (``syncstatus``), over real HTTP
against the emulator and its ``sync_*`` knobs, in ``poke`` and ``reschedule`` mode through
``dag.test()`` and deferred through a real ``airflow triggerer`` process.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import re
import textwrap
import threading
import time

import httpx
import pytest

from airflow_provider_cincopa.triggers.cincopa import CincopaAssetSyncedTrigger
from airflow_provider_cincopa.types import AssetSyncStatus
from tests.conftest import DAGS_FOLDER, TOKEN
from tests.support import (
    airflow_version,
    dag_bag,
    defer_every_task,
    resume_every_task,
    run_dag,
    run_triggerer_until_resumed,
    task_states,
    xcom,
)

#: What the emulator lists for a synced video besides ``original`` (emulator/sync.py).
RENDITIONS = {"mp4_hd", "ts_720p", "ts_480p", "jpg_600x450", "jpg_200x150"}


def upload(tmp_path, name: str, size: int = 2000) -> str:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return CincopaHook().upload_file(str(path)).rid


def polls_of(emulator, rid: str) -> int:
    """``asset.list`` calls that asked for ``rid`` (the sensor's and the trigger's polls)."""
    return len([r for r in emulator.requests("/v2/asset.list") if r["query"].get("rid") == rid])


def dag_file(dag_id: str, body: str, retries: int = 0) -> str:
    return (
        textwrap.dedent(
            f"""
        from datetime import datetime, timedelta
        from airflow.sdk import DAG, task
        from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator
        from airflow_provider_cincopa.sensors.cincopa import CincopaAssetSyncedSensor

        with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1),
                 default_args={{"retries": {retries}, "retry_delay": timedelta(seconds=0)}}):
        """
        )
        + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        + "\n"
    )


def run(dag_id: str, body: str, retries: int = 0):
    return run_dag(DAGS_FOLDER, dag_id, dag_file(dag_id, body, retries))


def printed(capfd) -> str | None:
    """What the task runner printed, or None on Airflow 3.0: its dag.test() prints tracebacks in
    rich boxes wrapped at the terminal width, which cut messages apart."""
    captured = capfd.readouterr()
    return captured.out + captured.err if airflow_version() >= (3, 1) else None


def skip_real_reschedule_on_3_0() -> None:
    if airflow_version() < (3, 1):
        # 3.0's in-process dag.test() hands BaseSensorOperator the first reschedule date as a str
        # (a deployment's supervisor parses it), so its second reschedule raises TypeError there.
        pytest.skip("Airflow 3.0's dag.test() cannot reschedule a sensor twice")


def wait_sensor(mode: str, rid: str, **kwargs) -> str:
    """Source of a ``CincopaAssetSyncedSensor`` named ``wait`` in ``mode`` (poke, reschedule, deferrable)."""
    how = "deferrable=True" if mode == "deferrable" else f"mode={mode!r}"
    args = ", ".join(f"{k}={v!r}" for k, v in {"poke_interval": 0.2, "timeout": 60, **kwargs}.items())
    return f'CincopaAssetSyncedSensor(task_id="wait", rid={rid}, {how}, {args})'


# -- the emulator's sync model -----------------------------------------------------------------


def test_emulator_syncs_at_once_by_default_with_renditions(emulator, tmp_path):
    rid = upload(tmp_path, "default.mp4")
    answer = httpx.get(f"{emulator.base_url}asset.list.json", params={"api_token": TOKEN, "rid": rid}).json()
    [item] = answer["items"]
    assert item["syncstatus"] == item["content"]["syncstatus"] == "synced"
    assert set(item["versions"]) == {"original", *RENDITIONS}


def test_emulator_sync_knobs_hold_then_sync_or_fail(emulator, tmp_path):
    emulator.faults(sync_polls={"slow-*": 2, "*": 1}, sync_fail="broken-*.mp4")
    slow, broken = upload(tmp_path, "slow-1.mp4"), upload(tmp_path, "broken-1.mp4")

    def status(rid: str) -> tuple[str, set[str]]:
        params = {"api_token": TOKEN, "rid": rid}
        [item] = httpx.get(f"{emulator.base_url}asset.list.json", params=params).json()["items"]
        return item["syncstatus"], set(item["versions"])

    assert [status(slow) for _ in range(3)] == [("pending", {"original"})] * 2 + [("synced", {"original", *RENDITIONS})]
    assert [status(broken) for _ in range(2)] == [("pending", {"original"}), ("failed", {"original"})]
    # A whole listing is not a poll of the asset: it counts nothing and shows the current status.
    listed = httpx.get(f"{emulator.base_url}asset.list.json", params={"api_token": TOKEN}).json()["items"]
    assert {i["rid"]: i["syncstatus"] for i in listed} == {slow: "synced", broken: "failed"}
    described = emulator.state()["faults"]
    assert described["sync_polls"] == {"slow-*": 2, "*": 1} and described["sync_fail"] == ["broken-*.mp4"]


def test_emulator_sync_delay_and_resync(emulator, tmp_path):
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    hook = CincopaHook()
    rid = upload(tmp_path, "later.mp4")
    emulator.faults(sync_delay=3600)  # set after the upload: the delay runs from the knob
    assert hook.get_asset_sync_status(rid).state == "pending"
    emulator.faults(sync_delay=0, sync_polls=1)
    hook.resync_asset(rid)  # a resync makes the versions again: pending for one more poll
    assert [hook.get_asset_sync_status(rid).state for _ in range(2)] == ["pending", "synced"]


@pytest.mark.parametrize(
    "knobs",
    [{"sync_delay": -1}, {"sync_polls": "many"}, {"sync_fail": [""]}, {"sync_fail": [3]}, {"sync_failed": ["*"]}],
)
def test_emulator_refuses_bad_sync_knobs(emulator, knobs):
    answer = httpx.post(f"{emulator.root}/_emulator/faults", json=knobs, timeout=30)
    assert answer.status_code == 400
    assert next(iter(knobs)) in answer.json()["message"]


# -- the hook ----------------------------------------------------------------------------------


def test_hook_sync_status_sync_and_async(emulator, tmp_path):
    from airflow_provider_cincopa.exceptions import CincopaApiError
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    emulator.faults(sync_polls=1, sync_fail="bad.mp4")
    good, bad = upload(tmp_path, "good.mp4"), upload(tmp_path, "bad.mp4")
    hook = CincopaHook()
    assert hook.get_asset_sync_status(good).state == "pending"
    synced = hook.get_asset_sync_status(good)
    assert synced.state == "synced" and synced.asset == hook.get_asset(good)
    assert set(synced.versions) == {"original", *RENDITIONS}

    async def check() -> None:
        ahook = CincopaHook()
        try:
            assert (await ahook.aget_asset_sync_status(bad)).state == "pending"
            failed = await ahook.aget_asset_sync_status(bad)
            assert (failed.state, failed.syncstatus, failed.versions) == ("failed", "failed", ["original"])
            assert (await ahook.aget_asset(good))["rid"] == good
            assert (await ahook.aget_asset_sync_status("NOSUCHRID123")).state == "missing"
            with pytest.raises(CincopaApiError, match="NOSUCHRID123"):
                await ahook.aget_asset("NOSUCHRID123")
        finally:
            await ahook.aclose()

    asyncio.run(check())
    assert hook.get_asset_sync_status("NOSUCHRID123").state == "missing"
    [request] = [r for r in emulator.requests("/v2/asset.list") if r["query"].get("rid") == "NOSUCHRID123"][:1]
    assert request["method"] == "GET" and request["query"]["items_per_page"] == "1"


@pytest.mark.parametrize(
    ("item", "state", "recognised"),
    [
        ({"rid": "R", "syncstatus": "synced"}, "synced", True),
        ({"rid": "R", "syncstatus": " Synced "}, "synced", True),
        ({"rid": "R", "content": {"syncstatus": "synced"}}, "synced", True),  # only in `content`
        ({"rid": "R", "syncstatus": "failed", "content": {"syncstatus": "synced"}}, "failed", True),
        ({"rid": "R", "syncstatus": "error"}, "failed", True),
        ({"rid": "R", "syncstatus": "processing"}, "pending", True),
        ({"rid": "R", "syncstatus": "halfway"}, "pending", False),  # unknown: waits, flagged
        ({"rid": "R"}, "pending", False),  # no syncstatus at all
        (None, "missing", True),
    ],
)
def test_sync_status_reads_every_plausible_shape(item, state, recognised):
    status = AssetSyncStatus.from_item("R", item)
    assert (status.state, status.recognised) == (state, recognised)
    if not recognised:
        assert "not one we know" in status.waiting_message()
    if state in ("failed", "missing"):
        assert "R" in status.failure_message()


# -- the sensor in a DAG: poke and reschedule (dag.test), deferrable (inline trigger runner) ------


@pytest.mark.parametrize("mode", ["poke", "reschedule", "deferrable"])
def test_sensor_waits_until_synced_and_pushes_the_asset_with_versions(emulator, airflow_db, tmp_path, mode):
    if mode == "reschedule":
        skip_real_reschedule_on_3_0()
    emulator.faults(sync_polls=2)
    video = tmp_path / f"synced-{mode}.mp4"
    video.write_bytes(os.urandom(3000))
    dr = run(
        f"synced_{mode}",
        f"""
        up = CincopaUploadFileOperator(task_id="up", source_path={str(video)!r})
        wait = {wait_sensor(mode, "up.output")}

        @task
        def publish(asset: dict) -> list:
            return sorted(asset["versions"])

        up >> wait >> publish(wait.output)
        """,
    )
    assert dr.state == "success", task_states(dr)
    rid = xcom(dr, "up")
    asset = xcom(dr, "wait")
    assert asset["rid"] == rid and asset["syncstatus"] == "synced"
    assert xcom(dr, "publish") == sorted({"original", *RENDITIONS})
    assert polls_of(emulator, rid) == 3, "two pending answers, then synced"


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_failed_sync_fails_the_task_at_once_naming_the_rid(emulator, airflow_db, tmp_path, capfd, mode):
    emulator.faults(sync_polls=1, sync_fail="broken.mp4")
    rid = upload(tmp_path, "broken.mp4")
    dr = run(f"sync_failed_{mode}", wait_sensor(mode, repr(rid), retries=3))
    output = printed(capfd)
    assert task_states(dr) == {"wait": "failed"}
    [ti] = dr.get_task_instances()
    assert ti.try_number == 1, "a failed sync is final: no retries spent on it"
    if output is not None:
        assert (
            f"CincopaSyncFailedError: Cincopa could not make the versions of asset {rid}: syncstatus is 'failed'"
            in output
        )


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_asset_deleted_while_waiting_fails_clearly(emulator, airflow_db, tmp_path, capfd, mode):
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    emulator.faults(sync_delay=3600)
    rid = upload(tmp_path, "doomed.mp4")

    def delete_once_polled() -> None:
        while polls_of(emulator, rid) < 2:  # the sensor waits: it has seen it pending twice
            time.sleep(0.05)
        CincopaHook().delete_asset(rid)

    deleter = threading.Thread(target=delete_once_polled, daemon=True)
    deleter.start()
    dr = run(f"sync_deleted_{mode}", wait_sensor(mode, repr(rid), retries=2))
    deleter.join(timeout=30)
    output = printed(capfd)
    assert task_states(dr) == {"wait": "failed"}
    assert dr.get_task_instances()[0].try_number == 1
    if output is not None:
        assert f"CincopaSyncFailedError: Cincopa has no asset {rid} (deleted while waiting, or never created)" in output


@pytest.mark.parametrize(("mode", "soft_fail"), [("poke", False), ("reschedule", True), ("deferrable", False)])
def test_sensor_timeout(emulator, airflow_db, tmp_path, capfd, mode, soft_fail):
    if mode == "reschedule":
        skip_real_reschedule_on_3_0()
    emulator.faults(sync_delay=3600)
    rid = upload(tmp_path, f"slow-{mode}.mp4")
    dr = run(f"sync_timeout_{mode}", wait_sensor(mode, repr(rid), timeout=1, soft_fail=soft_fail, retries=2))
    output = printed(capfd)
    assert task_states(dr) == {"wait": "skipped" if soft_fail else "failed"}
    assert dr.get_task_instances()[0].try_number == 1, "a sensor timeout is final"
    assert polls_of(emulator, rid) >= 1
    if output is not None and not soft_fail:
        assert "AirflowSensorTimeout" in output


def test_poke_raises_errors_naming_the_rid(emulator, tmp_path):
    from airflow_provider_cincopa.exceptions import CincopaSyncFailedError
    from airflow_provider_cincopa.sensors.cincopa import CincopaAssetSyncedSensor

    emulator.faults(sync_fail="sad.mp4")
    rid = upload(tmp_path, "sad.mp4")
    with pytest.raises(
        CincopaSyncFailedError, match=re.escape(f"versions of asset {rid}: syncstatus is 'failed'")
    ) as failed:
        CincopaAssetSyncedSensor(task_id="s", rid=rid).poke({})
    assert failed.value.rid == rid and failed.value.method == "asset.list"
    with pytest.raises(
        CincopaSyncFailedError, match=re.escape("no asset NOSUCHRID123 (deleted while waiting, or never created)")
    ):
        CincopaAssetSyncedSensor(task_id="s", rid="NOSUCHRID123").poke({})


def test_trigger_serialisation_round_trip_has_no_secret():
    trigger = CincopaAssetSyncedTrigger(rid="AAAAAAAAAAAA", cincopa_conn_id="c", poll_interval=3, end_time=12.5)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_cincopa.triggers.cincopa.CincopaAssetSyncedTrigger"
    assert kwargs == {"rid": "AAAAAAAAAAAA", "cincopa_conn_id": "c", "poll_interval": 3, "end_time": 12.5}
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**kwargs).serialize() == (classpath, kwargs)


async def test_trigger_tolerates_transient_failures_and_yields_one_event(emulator, tmp_path):
    emulator.faults(fail=[{"path_prefix": "/v2/asset.list", "nth": 1, "status": 503, "times": 2}])
    rid = upload(tmp_path, "flaky.mp4")
    events = [e async for e in CincopaAssetSyncedTrigger(rid=rid, poll_interval=0.05).run()]
    assert [e.payload["status"] for e in events] == ["success"]
    assert events[0].payload["asset"]["rid"] == rid and polls_of(emulator, rid) == 3


def test_sensor_turns_trigger_events_into_results():
    from airflow_provider_cincopa._compat import AirflowSensorTimeout
    from airflow_provider_cincopa.exceptions import CincopaAssetSyncError, CincopaSyncFailedError
    from airflow_provider_cincopa.sensors.cincopa import CincopaAssetSyncedSensor

    sensor = CincopaAssetSyncedSensor(task_id="s", rid="AAAAAAAAAAAA", deferrable=True)
    event = {"rid": "AAAAAAAAAAAA", "asset": None, "message": "why"}
    asset = {"rid": "AAAAAAAAAAAA", "versions": {"original": {}}}
    assert sensor.execute_complete({}, {**event, "status": "success", "asset": asset}) == asset
    with pytest.raises(CincopaSyncFailedError, match="why") as failed:
        sensor.execute_complete({}, {**event, "status": "failed"})
    assert failed.value.rid == "AAAAAAAAAAAA"
    with pytest.raises(AirflowSensorTimeout):
        sensor.execute_complete({}, {**event, "status": "timeout"})
    with pytest.raises(CincopaAssetSyncError) as err:
        sensor.execute_complete({}, {**event, "status": "error"})
    assert not isinstance(err.value, CincopaSyncFailedError), "an error talking to Cincopa may pass: retry"


# -- deferred through a real triggerer ---------------------------------------------------------


@pytest.mark.deployment
def test_every_outcome_through_a_real_triggerer(emulator, airflow_db, tmp_path, capfd):
    """
    Four sensors defer at once (each first poke sees ``pending``) and one triggerer process runs
    their four triggers: one asset syncs, one fails, one is deleted while waited for, one is late.
    """
    from airflow.utils.state import TaskInstanceState

    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    emulator.faults(
        sync_polls={"ready.mp4": 3, "bad.mp4": 2},
        sync_delay={"gone.mp4": 3600, "late.mp4": 3600},
        sync_fail="bad.mp4",
    )
    rids = {name: upload(tmp_path, f"{name}.mp4") for name in ("ready", "bad", "gone", "late")}
    path = DAGS_FOLDER / "synced_real_triggerer.py"
    path.write_text(
        dag_file(
            "synced_real_triggerer",
            "\n".join(
                f"CincopaAssetSyncedSensor(task_id='wait_{name}', rid={rid!r}, deferrable=True, poke_interval=0.5, "
                f"timeout={5 if name == 'late' else 120}, retries=2)"
                for name, rid in rids.items()
            ),
        )
    )
    dag = dag_bag(path).get_dag("synced_real_triggerer")
    defer_every_task(dag)
    log_path = tmp_path / "triggerer.log"

    def delete_gone_once_polled() -> None:
        deadline = time.monotonic() + 180
        while polls_of(emulator, rids["gone"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)  # delete it only once the trigger has seen it pending
        assert polls_of(emulator, rids["gone"]) >= 2, log_path.read_text()[-3000:]
        CincopaHook().delete_asset(rids["gone"])

    run_triggerer_until_resumed("synced_real_triggerer", log_path, while_running=delete_gone_once_polled)
    capfd.readouterr()
    dag_run, final = resume_every_task(dag)
    # FAILED, not UP_FOR_RETRY: each has retries left, and none is spent on a final outcome.
    failed = TaskInstanceState.FAILED
    assert final == {
        "wait_ready": TaskInstanceState.SUCCESS,
        "wait_bad": failed,
        "wait_gone": failed,
        "wait_late": failed,
    }
    asset = xcom(dag_run, "wait_ready")
    assert asset["rid"] == rids["ready"] and set(asset["versions"]) == {"original", *RENDITIONS}
    assert polls_of(emulator, rids["ready"]) == 4, "one poke, then three trigger polls"
    assert TOKEN not in log_path.read_text(), "the triggerer logged the api_token"
    # The events' messages, raised by execute_complete as each task resumed:
    output = printed(capfd)
    if output is None:
        return
    assert f"CincopaSyncFailedError: Cincopa could not make the versions of asset {rids['bad']}" in output
    assert f"CincopaSyncFailedError: Cincopa has no asset {rids['gone']} (deleted while waiting" in output
    assert f"AirflowSensorTimeout: Asset {rids['late']} was not synced before the timeout" in output


def test_start_from_trigger_synced_sensor_renders_its_rid_in_the_triggerer(emulator, airflow_db, tmp_path):
    """
    ``start_from_trigger=True`` on the synced sensor: from Airflow 3.3 the parsed task starts in
    the triggerer, its trigger gets ``upload.output`` as a pull the triggerer can render; below
    3.3 it defers from a worker. ``dag.test()`` (no scheduler) runs it to the asset either way.
    """
    video = tmp_path / "sft.mp4"
    video.write_bytes(b"\2" * 3000)
    emulator.faults(sync_polls=2)
    dag_id = "synced_start_from_trigger"
    source = dag_file(
        dag_id,
        f"""
        up = CincopaUploadFileOperator(task_id="up", source_path={str(video)!r})
        CincopaAssetSyncedSensor(task_id="synced", rid=up.output, start_from_trigger=True, poke_interval=0.2,
            timeout=60)
        """,
    )
    path = DAGS_FOLDER / f"{dag_id}.py"
    path.write_text(source)
    parsed = dag_bag(path).get_dag(dag_id).get_task("synced")
    if airflow_version() >= (3, 3):
        assert parsed.start_from_trigger
        kwargs = parsed.start_trigger_args.trigger_kwargs
        assert "xcom_pull(task_ids='up'" in kwargs["rid"] and "map_indexes=-1" in kwargs["rid"]
        assert parsed.start_trigger_args.trigger_cls.endswith("CincopaAssetSyncedTrigger")
    else:
        assert not parsed.start_from_trigger
    dr = run_dag(DAGS_FOLDER, dag_id, source)
    assert dr.state == "success", task_states(dr)
    [asset] = emulator.assets()
    assert xcom(dr, "synced")["rid"] == asset["rid"] and xcom(dr, "synced")["syncstatus"] == "synced"


def test_synced_trigger_with_end_from_trigger_serialises_round_trip():
    trigger = CincopaAssetSyncedTrigger(rid="{{ x }}", poll_interval=2, end_from_trigger=True, soft_fail=True)
    classpath, kwargs = trigger.serialize()
    assert kwargs["end_from_trigger"] is True and kwargs["soft_fail"] is True
    assert CincopaAssetSyncedTrigger(**kwargs).serialize() == (classpath, kwargs)
