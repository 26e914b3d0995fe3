"""The waits and rules the operators use, called from TaskFlow code: run by ``dag.test()`` against the emulator."""

from __future__ import annotations

import pytest

from tests.conftest import DAGS_FOLDER
from tests.support import run_dag, task_states, xcom

pytestmark = pytest.mark.emulator

TASKFLOW_DAG = """
from datetime import datetime

from airflow.sdk import dag, task

from airflow_provider_cincopa.hooks.cincopa import CincopaHook


@dag(schedule=None, start_date=datetime(2026, 1, 1))
def taskflow_ingest():
    @task
    def ingest(url: str, item_id: str) -> dict:
        hook = CincopaHook()
        # The operators' if_exists rule: "reuse" returns the asset an earlier run made.
        rid = hook.find_existing_asset(item_id, if_exists="reuse")
        if rid is None:
            status_id = hook.upload_from_url(url)
            rid = hook.wait_for_upload_from_url(status_id, poll_interval=0.2, timeout=300)
            # A failure here names the asset and is not retried: a retry would import it again.
            hook.set_meta_after_upload(rid, caption="From TaskFlow", reference_id=item_id)
        fid = hook.get_or_create_gallery("TaskFlow imports")
        hook.add_to_gallery(fid, rid)
        return {"rid": rid, "fid": fid}

    ingest(url="{{ dag_run.conf['url'] }}", item_id="cms-77")


taskflow_ingest()
"""


def test_taskflow_code_gets_the_operators_waits_and_rules_from_the_hook(emulator, airflow_db, media_server):
    url = media_server.add("taskflow.mp4", b"t" * 6000)
    first = run_dag(DAGS_FOLDER, "taskflow_ingest", TASKFLOW_DAG, run_conf={"url": url})
    assert first.state == "success", task_states(first)
    again = run_dag(DAGS_FOLDER, "taskflow_ingest", TASKFLOW_DAG, run_conf={"url": url}, logical_date=None)
    assert again.state == "success", task_states(again)
    [asset] = emulator.assets()
    assert (asset["caption"], asset["reference_id"]) == ("From TaskFlow", "cms-77")
    assert xcom(first, "ingest") == xcom(again, "ingest") == {"rid": asset["rid"], "fid": xcom(first, "ingest")["fid"]}
    assert len(emulator.state()["url_imports"]) == 1, "the second run reused the asset"
    [gallery] = [g for g in emulator.state()["galleries"] if g != "GALLERY00001"]
    assert gallery == xcom(first, "ingest")["fid"]
