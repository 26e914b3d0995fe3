"""The operators' default retry policy (Airflow 3.3+), run by real Airflow (``dag.test()``) against the emulator."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta

import pytest

from tests.conftest import DAGS_FOLDER
from tests.support import airflow_version, run_dag, task_states

pytestmark = pytest.mark.emulator

ON_3_3 = airflow_version() >= (3, 3)
needs_3_3 = pytest.mark.skipif(not ON_3_3, reason="retry_policy arrived in Airflow 3.3")
below_3_3 = pytest.mark.skipif(ON_3_3, reason="the old behaviour: Airflow < 3.3 has no retry_policy")

HEADER = """
from datetime import datetime, timedelta
from airflow.sdk import DAG
from airflow_provider_cincopa.operators.cincopa import CincopaDeleteAssetOperator
"""


def run_delete(
    dag_id: str, *, conn_id: str, retries: int, task_args: str = "", default_args: str = "", imports: str = ""
):
    """One ``CincopaDeleteAssetOperator`` (a missing asset, ``missing_ok``) with ``retries`` and no retry delay."""
    source = (
        HEADER
        + imports
        + textwrap.dedent(
            f"""
        with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1),
                 default_args={{"retries": {retries}, "retry_delay": timedelta(0), {default_args}}}):
            CincopaDeleteAssetOperator(task_id="gone", rid="NOSUCHRID123", missing_ok=True,
                                       cincopa_conn_id={conn_id!r}, {task_args})
        """
        )
    )
    dr = run_dag(DAGS_FOLDER, dag_id, source)
    [ti] = dr.get_task_instances()
    return dr, ti


@pytest.fixture
def revoked(emulator, monkeypatch):
    """A connection to the emulator whose token it does not accept (HTTP 403), as after a revocation."""
    conn = json.loads(emulator.connection_json())
    conn["password"] = "REVOKEDTOKEN0000"
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_REVOKED", json.dumps(conn))
    return "cincopa_revoked"


def deletes(emulator) -> int:
    return len(emulator.requests("/v2/asset.delete"))


@needs_3_3
def test_a_revoked_token_fails_on_the_first_try_although_retries_is_3(emulator, airflow_db, revoked):
    dr, ti = run_delete("retry_revoked", conn_id=revoked, retries=3)
    assert task_states(dr) == {"gone": "failed"}
    assert ti.try_number == 1, "no retry spent on a token Cincopa refuses"
    assert deletes(emulator) == 1


@needs_3_3
@pytest.mark.parametrize("deferrable", [False, True])
def test_a_sensor_with_a_revoked_token_fails_on_the_first_try(emulator, airflow_db, revoked, deferrable):
    dag_id = f"retry_revoked_sensor_{deferrable}"
    source = HEADER + textwrap.dedent(
        f"""
        from airflow_provider_cincopa.sensors.cincopa import CincopaAssetSyncedSensor

        with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1),
                 default_args={{"retries": 3, "retry_delay": timedelta(0)}}):
            CincopaAssetSyncedSensor(task_id="wait", rid="NOSUCHRID123", cincopa_conn_id={revoked!r},
                                     poke_interval=0.1, timeout=30, deferrable={deferrable!r})
        """
    )
    dr = run_dag(DAGS_FOLDER, dag_id, source)
    assert task_states(dr) == {"wait": "failed"}
    assert dr.get_task_instances()[0].try_number == 1
    assert len(emulator.requests("/v2/asset.list")) == 1


@below_3_3
def test_below_3_3_a_revoked_token_spends_every_retry(emulator, airflow_db, revoked):
    """The documented old behaviour: no retry policy exists, so all four tries are made."""
    dr, ti = run_delete("retry_revoked_old", conn_id=revoked, retries=3)
    assert task_states(dr) == {"gone": "failed"}
    assert ti.try_number == 4
    assert deletes(emulator) == 4


@needs_3_3
@pytest.mark.parametrize(
    ("how", "task_args", "default_args"),
    [
        ("none_in_default_args", "", '"retry_policy": None'),
        ("own_policy_argument", "retry_policy=ExceptionRetryPolicy(rules=[])", ""),
    ],
)
def test_a_dag_authors_own_retry_policy_wins(emulator, airflow_db, revoked, how, task_args, default_args):
    dr, ti = run_delete(
        f"retry_own_{how}",
        conn_id=revoked,
        retries=2,
        task_args=task_args,
        default_args=default_args,
        imports="from airflow.sdk import ExceptionRetryPolicy\n",
    )
    assert task_states(dr) == {"gone": "failed"}
    assert ti.try_number == 3, "the author's policy (or none) spends the task's retries as Airflow always did"
    assert deletes(emulator) == 3


@needs_3_3
def test_a_rate_limited_call_retries_after_the_servers_retry_after(emulator, airflow_db, monkeypatch):
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    # The hook makes no retry of its own here, so the 429 reaches the task at once.
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_NORETRY", emulator.connection_json(retries=0))
    emulator.faults(fail=[{"path_prefix": "/v2/asset.delete", "status": 429, "retry_after": 3, "times": 1}])
    dr, ti = run_delete("retry_after_429", conn_id="cincopa_noretry", retries=1)
    assert task_states(dr) == {"gone": "success"}
    assert ti.try_number == 2
    with create_session() as session:
        [first] = session.query(TaskInstanceHistory).filter_by(dag_id="retry_after_429", try_number=1).all()
        first_end, delay, reason = first.end_date, first.retry_delay_override, first.retry_reason
    # What Airflow recorded for the retry: the server's wait, not the task's retry_delay of 0.
    assert delay == 3.0
    assert "Retry-After" in reason
    assert ti.start_date >= first_end + timedelta(seconds=3)
    assert [r["status"] for r in emulator.requests("/v2/asset.delete")] == [429, 200]
