"""
The deferrable sensor through a real ``airflow triggerer`` process: the task defers, the
triggerer deserialises and runs CincopaUploadStatusTrigger against the emulator, fires the
event, and the task resumes in ``execute_complete`` with the rid.
"""

from __future__ import annotations

import textwrap

import pytest

from tests.conftest import DAGS_FOLDER, TOKEN
from tests.support import dag_bag, defer_every_task, resume_every_task, run_triggerer_until_resumed, xcom

pytestmark = pytest.mark.deployment


def test_deferrable_sensor_resumes_through_a_real_triggerer(emulator, airflow_db, media_server, tmp_path):
    from airflow.utils.state import TaskInstanceState

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
    defer_every_task(dag)
    emulator.faults(import_rate=200_000)

    log_path = tmp_path / "triggerer.log"
    run_triggerer_until_resumed("real_triggerer", log_path, timeout=120)
    dag_run, states = resume_every_task(dag)
    assert states == {"wait": TaskInstanceState.SUCCESS}
    [asset] = emulator.assets()
    assert xcom(dag_run, "wait") == asset["rid"]
    assert TOKEN not in log_path.read_text(), "the triggerer logged the api_token"
