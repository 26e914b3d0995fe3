"""
The upload's saved state in ``task_state_store`` (Airflow 3.3+), run by real Airflow (``dag.test()``):
sealed with the Fernet key, bound to its task instance, and distrusted when it does not verify,
so that nobody who can write that table (the REST API lets anyone who may edit task instances)
can redirect a file or plant a rid. Without a usable key nothing is saved and the upload works.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from tests.conftest import DAGS_FOLDER, TOKEN
from tests.support import has_task_state_store, make_file, rerun_task, run_dag, task_states, xcom

pytestmark = pytest.mark.skipif(not has_task_state_store(), reason="task_state_store exists on Airflow 3.3+ only")

MiB = 1024 * 1024


def upload_dag(dag_id: str, *tasks: tuple[str, str]) -> str:
    ops = "\n".join(
        f"    CincopaUploadFileOperator(task_id={task_id!r}, source_path={path!r}, chunk_size={MiB}, caption='c')"
        for task_id, path in tasks
    )
    return (
        "from datetime import datetime\n"
        "from airflow.sdk import DAG\n"
        "from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator\n"
        f"with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)):\n{ops}\n"
    )


def stored(dag_id: str) -> dict[str, object]:
    """``{task_id: value}`` of every saved upload state of ``dag_id``'s runs, as the DB holds it."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(TaskStateStoreModel).filter_by(dag_id=dag_id, key="cincopa_upload").all()
        return {row.task_id: json.loads(row.value) for row in rows}


def plant(dag_id: str, task_id: str, value: object) -> None:
    """Overwrite a task's saved state, as someone with edit rights on task instances can."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(TaskStateStoreModel).filter_by(dag_id=dag_id, task_id=task_id, key="cincopa_upload").one()
        row.value = json.dumps(value)


class RogueUploadHost:
    """Where an edited upload URL would send the file: counts every byte POSTed to it."""

    def __init__(self) -> None:
        received = self.received = [0]

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received[0] += len(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"chunk done.\n")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/upload/post.jpg?d=x&hash=stolen"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def rogue():
    host = RogueUploadHost()
    yield host
    host.server.shutdown()


def test_saved_state_is_sealed_and_holds_no_secret_in_clear(emulator, airflow_db, tmp_path):
    video = tmp_path / "sealed.mp4"
    make_file(video, 2 * MiB)
    dr = run_dag(DAGS_FOLDER, "sealed_state", upload_dag("sealed_state", ("up", str(video))))
    assert dr.state == "success", task_states(dr)
    value = stored("sealed_state")["up"]
    assert isinstance(value, dict) and set(value) == {"format", "sealed"} and value["format"] == "cincopa-sealed-v1"
    text = json.dumps(value)
    upload_url = next(r for r in emulator.requests("/upload/"))
    for secret in (upload_url["query"]["hash"], xcom(dr, "up"), "upload_url", "sealed.mp4", TOKEN):
        assert secret not in text


@pytest.mark.parametrize("edit", ["plain-state-with-rogue-url", "flipped-bits", "sealed-for-another-task"])
def test_edited_state_is_discarded_and_the_file_goes_where_it_should(emulator, airflow_db, tmp_path, rogue, edit):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    digest_a = make_file(a, 2 * MiB, seed=1)
    make_file(b, 2 * MiB, seed=2)
    dag_id = f"edited_state_{edit.replace('-', '_')}"
    dr = run_dag(DAGS_FOLDER, dag_id, upload_dag(dag_id, ("a", str(a)), ("b", str(b))))
    assert dr.state == "success", task_states(dr)
    rid_a, rid_b = xcom(dr, "a"), xcom(dr, "b")
    CincopaHook().delete_asset(rid_a)  # so that "a" must upload again, and any state it trusts shows
    saved = stored(dag_id)
    if edit == "plain-state-with-rogue-url":
        value: object = rogue_state(rogue.url, "a.mp4", 2 * MiB)
    elif edit == "flipped-bits":
        sealed = saved["a"]["sealed"]  # type: ignore[index]
        flipped = sealed[:40] + ("A" if sealed[40] != "A" else "B") + sealed[41:]
        value = {"format": "cincopa-sealed-v1", "sealed": flipped}
    else:
        value = saved["b"]  # verifies with the key, but was sealed for task "b" and holds rid_b
    plant(dag_id, "a", value)

    ti, _ = rerun_task(DAGS_FOLDER, dag_id, "a")
    assert ti.state == "success"
    assert rogue.received == [0], "not one byte went to the edited upload URL"
    new_rid = xcom(dr, "a")
    assert new_rid not in (rid_a, rid_b)
    [asset] = [x for x in emulator.assets() if x["rid"] == new_rid]
    assert asset["sha256"] == digest_a and asset["caption"] == "c"
    assert {x["rid"] for x in emulator.assets()} == {new_rid, rid_b}


def test_cleared_task_returns_its_asset_while_it_exists_and_uploads_again_once_deleted(emulator, airflow_db, tmp_path):
    video = tmp_path / "cleared.mp4"
    digest = make_file(video, 2 * MiB)
    dr = run_dag(DAGS_FOLDER, "cleared_upload", upload_dag("cleared_upload", ("up", str(video))))
    assert dr.state == "success", task_states(dr)
    first = xcom(dr, "up")
    sent = len(emulator.requests("/upload/"))

    ti, _ = rerun_task(DAGS_FOLDER, "cleared_upload", "up")
    assert ti.state == "success" and xcom(dr, "up") == first
    assert len(emulator.requests("/upload/")) == sent, "nothing sent again for an asset that exists"

    CincopaHook().delete_asset(first)
    ti, _ = rerun_task(DAGS_FOLDER, "cleared_upload", "up")
    assert ti.state == "success"
    second = xcom(dr, "up")
    [asset] = emulator.assets()
    assert second != first and asset["rid"] == second and asset["sha256"] == digest and asset["caption"] == "c"


@pytest.mark.emulator
@pytest.mark.parametrize("fernet_key", ["", "not-a-fernet-key"], ids=["no-key", "unusable-key"])
def test_without_a_usable_fernet_key_nothing_is_saved_and_the_upload_works(emulator, tmp_path, fernet_key):
    # Its own Airflow home and database: a process whose key differs must not share the session's.
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    video = tmp_path / "nokey.mp4"
    digest = make_file(video, 2 * MiB)
    dag_id = "no_key" if not fernet_key else "bad_key"
    path = home / "dags" / f"{dag_id}.py"
    path.write_text(upload_dag(dag_id, ("up", str(video))))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__FERNET_KEY": fernet_key,
    }
    migrate = [sys.executable, "-m", "airflow", "db", "migrate"]
    subprocess.run(migrate, env=env, check=True, capture_output=True, timeout=300)
    script = (
        "from tests.support import dag_bag\n"
        f"dr = dag_bag({str(path)!r}).get_dag({dag_id!r}).test()\n"
        "print('RUN', dr.state)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert "RUN success" in out.stdout, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Crash-resume is off for this upload" in out.stdout + out.stderr
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute("SELECT key FROM task_state_store WHERE dag_id = ?", (dag_id,)).fetchall()
    assert rows == [], "nothing saved without a key"
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and asset["caption"] == "c"
    # A state planted where nothing was saved is ignored without a key: tests/test_deployment.py
    # (test_without_fernet_key_a_planted_plain_state_is_ignored) plants one through the REST API.


def rogue_state(url: str, filename: str, size: int) -> dict[str, object]:
    """A plain state as the provider saved it before sealing: the upload URL edited to ``url``."""
    return {
        "upload_url": url,
        "unique_id": "x",
        "filename": filename,
        "size": size,
        "done": [],
        "rid": None,
        "id": None,
        "source_version": None,
    }
