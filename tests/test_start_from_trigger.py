"""
``start_from_trigger`` on every Airflow the package supports: which sensors may start in the
triggerer (3.3+), the fallback (a worker starts and defers) with its reason, the one warning below
3.3, and the sensor run through ``dag.test()`` either way. The triggerer side (no worker start, rid
in XCom and downstream, failures) runs in a real deployment: tests/test_deployment.py.
"""

from __future__ import annotations

import datetime
import logging
import warnings

import pytest

from airflow_provider_cincopa._trigger_handoff import start as _start_from_trigger
from airflow_provider_cincopa._trigger_handoff.triggerer_contract import (
    TRIGGER_TIMEOUT_GRACE,
    CannotStartFromTrigger,
    check_template,
)
from tests.conftest import DAGS_FOLDER
from tests.support import airflow_version, dag_bag, run_dag, task_states, xcom

NEW_AIRFLOW = airflow_version() >= (3, 3)
needs_3_3 = pytest.mark.skipif(not NEW_AIRFLOW, reason="start_from_trigger starts in the triggerer from Airflow 3.3")


@pytest.fixture
def fresh_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in a new process: no sensor class has warned about an old Airflow yet."""
    monkeypatch.setattr(_start_from_trigger, "_warned_old_airflow", set())


def sensor(task_id: str = "s", **kwargs):
    from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

    return CincopaUploadStatusSensor(task_id=task_id, start_from_trigger=True, **kwargs)


# -- what the triggerer can render --------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{ ti.xcom_pull(task_ids='start', map_indexes=-1) }}",
        "{{ task_instance.xcom_pull(task_ids='start', key='status', map_indexes=[0, 1]) | first }}",
        "{{ dag_run.conf['status_id'] }}",
        "{{ params.status_id }}-{{ ds_nodash }}",
        "{{ var.value.cincopa_status }}",
        "{% if dag_run.conf %}{{ dag_run.conf.get('id') }}{% else %}fixed{% endif %}",
    ],
)
def test_templates_the_triggerer_renders_are_accepted(template):
    check_template("status_id", template)


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ ti.xcom_pull(task_ids='start') }}", "GetXComSequenceSlice"),
        ("{{ ti.xcom_pull(task_ids='start', map_indexes=none) }}", "map_indexes"),
        ("{{ ti.xcom_pull(task_ids='start', map_indexes=ti.map_index) }}", "map_indexes"),
        ("{{ ti.xcom_pull(**dag_run.conf) }}", "map_indexes"),
        ("{{ prev_start_date_success }}", "prev_start_date_success"),
        ("{{ triggering_asset_events }}", "triggering_asset_events"),
        ("{{ ti.get_dagrun() }}", r"ti.get_dagrun\(\)"),
        ("{% include 'status.txt' %}", "includes"),
        ("{{ unclosed", "not a valid template"),
    ],
)
def test_templates_the_triggerer_cannot_render_are_refused_with_the_reason(template, reason):
    with pytest.raises(CannotStartFromTrigger, match=reason):
        check_template("status_id", template)


# -- the sensor's choice ------------------------------------------------------------------------


@needs_3_3
def test_xcom_arg_becomes_a_pull_the_triggerer_renders(airflow_db):
    from airflow.sdk import DAG

    from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator

    with DAG("sft_xcomarg", schedule=None, start_date=datetime.datetime(2026, 1, 1)):
        start = CincopaUploadFromUrlOperator(task_id="start", source_url="https://x/y.mp4", wait_for_completion=False)
        wait = sensor(status_id=start.output, poke_interval=3, timeout=100, soft_fail=True)
    assert wait.start_from_trigger and wait.deferrable
    assert wait.upstream_task_ids == {"start"}, "the XComArg still sets the dependency"
    assert wait.status_id == start.output, "a worker (fallback, resume) still resolves the XComArg itself"
    args = wait.start_trigger_args
    assert args.trigger_cls == "airflow_provider_cincopa.triggers.cincopa.CincopaUploadStatusTrigger"
    assert args.trigger_kwargs == {
        "status_id": "{{ ti.xcom_pull(task_ids='start', key='return_value', map_indexes=-1) }}",
        "cincopa_conn_id": "cincopa_default",
        "poll_interval": 3.0,
        "soft_fail": True,
        "end_from_trigger": True,
    }
    assert args.next_method == "execute_complete"
    assert args.timeout == datetime.timedelta(seconds=100 + TRIGGER_TIMEOUT_GRACE)
    assert type(wait).start_trigger_args is None, "the class attribute (what a mapped task gets) is untouched"


@needs_3_3
def test_what_the_triggerer_cannot_render_starts_on_a_worker_with_the_reason(airflow_db, caplog, capsys):
    from airflow.sdk import DAG, task, task_group

    from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator

    caplog.set_level(logging.WARNING)
    with DAG("sft_fallback", schedule=None, start_date=datetime.datetime(2026, 1, 1)):
        mapped = CincopaUploadFromUrlOperator.partial(task_id="mapped", wait_for_completion=False).expand(
            source_url=["https://x/a.mp4", "https://x/b.mp4"]
        )

        @task
        def ids() -> list[str]:
            return ["a", "b"]

        in_group = []

        @task_group
        def per_id(status_id: str) -> None:
            in_group.append(sensor("in_group", status_id="st-1"))

        cases = {
            "bare_pull": sensor("bare_pull", status_id="{{ ti.xcom_pull(task_ids='start') }}"),
            "from_mapped": sensor("from_mapped", status_id=mapped.output),
            "mapped_arg": sensor("mapped_arg", status_id=ids().map(str.upper)),
            "object": sensor("object", status_id=object()),
        }
        per_id.expand(status_id=ids())
        cases["in_group"] = in_group[0]
    for task_id, wait in cases.items():
        assert not wait.start_from_trigger and wait.start_trigger_args is None, task_id
        assert wait.deferrable, f"{task_id}: start_from_trigger still waits in the triggerer, deferring from a worker"
    # The operator's logger: through structlog to stdout here, through logging where that is set up.
    said = "\n".join(r.getMessage() for r in caplog.records) + capsys.readouterr().out
    for task_id, reason in {
        "bare_pull": "GetXComSequenceSlice",
        "from_mapped": "mapped task 'mapped'",
        "mapped_arg": "MapXComArg",
        "object": "holds a object",
        "in_group": "mapped task group 'per_id'",
    }.items():
        full_id = cases[task_id].task_id  # the group's prefix included
        assert f"Task {full_id} starts on a worker and defers from there" in said and reason in said, said


@pytest.mark.skipif(NEW_AIRFLOW, reason="the fallback of Airflow < 3.3")
def test_below_airflow_3_3_one_warning_and_a_worker_defers(fresh_warning):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sensors = [sensor(f"s{i}", status_id="st-1") for i in range(3)]
    ours = [w for w in caught if "start_from_trigger" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert issubclass(ours[0].category, UserWarning)
    assert "needs Airflow 3.3 or later" in str(ours[0].message)
    assert "defer" in str(ours[0].message)
    for s in sensors:
        assert not s.start_from_trigger and s.start_trigger_args is None and s.deferrable


def test_without_start_from_trigger_nothing_changes():
    from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

    plain = CincopaUploadStatusSensor(task_id="plain", status_id="st-1")
    assert not plain.start_from_trigger and plain.start_trigger_args is None and not plain.deferrable


# -- through dag.test() on every version --------------------------------------------------------


def test_start_from_trigger_sensor_in_dag_test_pushes_the_rid(emulator, airflow_db, media_server, fresh_warning):
    """
    ``dag.test()`` runs every task in-process (it has no scheduler to start one in the triggerer):
    the sensor defers from the "worker" there and resumes with the rid. Below 3.3 its DAG file
    parses with the one warning; from 3.3 the parsed task is set to start in the triggerer.
    """
    url = media_server.add("start-from-trigger.mp4", b"s" * 30_000)
    emulator.faults(import_rate=60_000)
    source = f"""
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator, CincopaSetAssetMetaOperator
from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

with DAG("start_from_trigger_dag_test", schedule=None, start_date=datetime(2026, 1, 1)):
    start = CincopaUploadFromUrlOperator(task_id="start", source_url={url!r}, wait_for_completion=False)
    wait = CincopaUploadStatusSensor(task_id="wait", status_id=start.output, start_from_trigger=True,
        poke_interval=0.2, timeout=60)
    CincopaSetAssetMetaOperator(task_id="tag", rid=wait.output, tags="from-trigger")
"""
    path = DAGS_FOLDER / "start_from_trigger_dag_test.py"
    path.write_text(source)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parsed = dag_bag(path).get_dag("start_from_trigger_dag_test").get_task("wait")
    ours = [str(w.message) for w in caught if "start_from_trigger" in str(w.message)]
    if NEW_AIRFLOW:
        assert parsed.start_from_trigger and not ours
    else:
        assert not parsed.start_from_trigger and len(ours) == 1, ours

    dr = run_dag(DAGS_FOLDER, "start_from_trigger_dag_test", source)
    assert dr.state == "success", task_states(dr)
    [asset] = emulator.assets()
    assert xcom(dr, "wait") == asset["rid"] and asset["tags"] == "from-trigger"


# -- the trigger's half --------------------------------------------------------------------------


def test_trigger_with_end_from_trigger_serialises_round_trip():
    from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger

    trigger = CincopaUploadStatusTrigger(status_id="{{ x }}", poll_interval=2, end_from_trigger=True, soft_fail=True)
    classpath, kwargs = trigger.serialize()
    assert kwargs["end_from_trigger"] is True and kwargs["soft_fail"] is True
    assert CincopaUploadStatusTrigger(**kwargs).serialize() == (classpath, kwargs)


def test_trigger_deadline_is_the_grace_before_the_schedulers_timeout():
    from airflow_provider_cincopa._trigger_handoff.end import deadline
    from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger

    trigger = CincopaUploadStatusTrigger(status_id="st", end_from_trigger=True)
    assert deadline(trigger) is None, "no trigger timeout: no deadline"
    now = datetime.datetime.now(datetime.timezone.utc)
    trigger.timeout_after = now + datetime.timedelta(seconds=600)
    expected = (now + datetime.timedelta(seconds=600)).timestamp() - TRIGGER_TIMEOUT_GRACE
    assert deadline(trigger) == pytest.approx(expected)
    trigger.timeout_after = now  # already past the grace: time out at the first poll, never before now
    assert deadline(trigger) >= now.timestamp()
