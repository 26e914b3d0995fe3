"""
The deferrable sensor through a real ``airflow triggerer`` process: the task defers, the
triggerer deserialises and runs CincopaUploadStatusTrigger against the emulator, fires the
event, and the task resumes in ``execute_complete`` with the rid.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time

from tests.conftest import DAGS_FOLDER, TOKEN
from tests.support import dag_bag, run_task, xcom


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_deferrable_sensor_resumes_through_a_real_triggerer(emulator, airflow_db, media_server, tmp_path):
    import os

    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    # Slow enough that the first poke surely finds it running and defers, however loaded the
    # machine; sped up once the task is deferred.
    emulator.faults(import_rate=2_000)
    status_id = CincopaHook().upload_from_url(media_server.add("triggered.mp4", b"t" * 400_000))
    dag_file = DAGS_FOLDER / "real_triggerer.py"
    dag_file.write_text(
        textwrap.dedent(
            f"""
            from datetime import datetime
            from airflow.sdk import DAG
            from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

            with DAG("real_triggerer", schedule=None, start_date=datetime(2026, 1, 1)):
                CincopaUploadStatusSensor(task_id="wait", status_id={status_id!r}, deferrable=True,
                                          poke_interval=0.5, timeout=120)
            """
        )
    )
    dag = dag_bag(dag_file).get_dag("real_triggerer")
    task = dag.task_dict["wait"]
    # dag.test() creates and syncs the run; "wait" is only marked, then run below without the
    # inline trigger runner, so that deferring really hands the trigger to the triggerer.
    dag.test(mark_success_pattern="wait")
    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == "real_triggerer").one()
        dag_run.state = DagRunState.RUNNING
        [ti] = dag_run.get_task_instances(session=session)
        ti.state, ti.try_number = TaskInstanceState.SCHEDULED, ti.try_number + 1
        session.commit()
        run_task(ti, task, run_triggerer=False)
        assert ti.state == TaskInstanceState.DEFERRED
    emulator.faults(import_rate=200_000)

    log = (tmp_path / "triggerer.log").open("w")
    env = {**os.environ, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port())}
    triggerer = subprocess.Popen(
        [sys.executable, "-m", "airflow", "triggerer"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline, state = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            with create_session() as session:
                state = (
                    session.query(DagRun)
                    .filter(DagRun.dag_id == "real_triggerer")
                    .one()
                    .get_task_instances(session=session)[0]
                    .state
                )
            if state != TaskInstanceState.DEFERRED:
                break
            time.sleep(0.5)
        assert state == TaskInstanceState.SCHEDULED, (tmp_path / "triggerer.log").read_text()[-3000:]
    finally:
        triggerer.terminate()
        triggerer.wait(timeout=60)

    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == "real_triggerer").one()
        [ti] = dag_run.get_task_instances(session=session)
        run_task(ti, task)
        assert ti.state == TaskInstanceState.SUCCESS
    [asset] = emulator.assets()
    assert xcom(dag_run, "wait") == asset["rid"]
    assert TOKEN not in (tmp_path / "triggerer.log").read_text(), "the triggerer logged the api_token"
