"""
A real task process SIGKILLed mid-upload, then retried by Airflow's task runner: exactly one
asset, byte-identical, and the only bytes sent twice are those of the chunks in flight (on Airflow
3.3+; below it, without task_state_store, the retry restarts the upload and sends the whole file).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

from tests.conftest import DAGS_FOLDER
from tests.support import DAGBAG_IMPORT, has_task_state_store, make_file, rerun_task

MiB = 1024 * 1024
CHUNK, PARALLEL = MiB, 2


def test_sigkilled_worker_then_retry_finishes_the_same_asset(emulator, airflow_db, tmp_path):
    video = tmp_path / "crash.mp4"
    size = 24 * MiB
    digest = make_file(video, size)
    dag_file = DAGS_FOLDER / "crash_upload.py"
    dag_file.write_text(
        textwrap.dedent(
            f"""
            from datetime import datetime, timedelta
            from airflow.sdk import DAG
            from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator

            with DAG("crash_upload", schedule=None, start_date=datetime(2026, 1, 1)):
                CincopaUploadFileOperator(task_id="up", source_path={str(video)!r}, chunk_size={CHUNK},
                    max_parallel_chunks={PARALLEL}, retries=1, retry_delay=timedelta(seconds=0))
            """
        )
    )
    # Slow the upload host down so the kill lands mid-file.
    emulator.faults(bandwidth=3 * MiB)
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            DAGBAG_IMPORT + f"DagBag(dag_folder={str(dag_file)!r}).get_dag('crash_upload').test()",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and worker.poll() is None:
        uploads = emulator.state()["uploads"]
        if uploads and sum(e - s for s, e in uploads[0]["received"]) >= 8 * MiB:
            break
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL, "the worker must die mid-upload, not finish"
    assert emulator.assets() == []
    sent_by_first_try = sum(r["body_length"] for r in emulator.requests("/upload/"))
    emulator.clear_faults()

    ti = _retry_like_the_scheduler("crash_upload")

    assert ti.state == "success" and ti.try_number == 2
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and asset["size"] == size
    sent_in_total = sum(r["body_length"] for r in emulator.requests("/upload/"))
    assert sent_by_first_try < size
    if has_task_state_store():
        assert sent_in_total - size <= PARALLEL * CHUNK, "only the chunks in flight at the kill are sent again"
    else:
        # Below Airflow 3.3 (no task_state_store) the retry restarts the upload cleanly: it sends
        # the whole file again and still ends with the one byte-identical asset checked above.
        assert sent_in_total - sent_by_first_try >= size, "the retry sends the whole file"


def _retry_like_the_scheduler(dag_id: str):
    """
    What Airflow does for a task whose worker vanished: the scheduler's heartbeat check marks the
    running try failed and, with retries left, up for retry; the next try then runs through the
    real task runner (the same ``_run_task`` that ``dag.test()`` uses), in this process.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == dag_id).one()
        [ti] = dag_run.get_task_instances(session=session)
        assert ti.state == TaskInstanceState.RUNNING and ti.try_number == 1, "the killed try never reported back"
        task_id = ti.task_id
    ti, _ = rerun_task(DAGS_FOLDER, dag_id, task_id)
    return ti
