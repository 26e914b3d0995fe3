"""
Helpers for the tests: the emulator's inspection API, running DAG files with ``dag.test()``,
deferred tasks resumed by a real ``airflow triggerer``, and the unit tier's guard.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

# -- Airflow version compatibility (the tests run against every Airflow 3 release the package accepts) --

#: Source that imports ``DagBag`` on any Airflow 3, for code run in a subprocess: it moved from
#: ``airflow.models.dagbag`` to ``airflow.dag_processing.dagbag`` in 3.2.
DAGBAG_IMPORT = (
    "try:\n"
    "    from airflow.dag_processing.dagbag import DagBag\n"
    "except ImportError:  # Airflow < 3.2\n"
    "    from airflow.models.dagbag import DagBag\n"
)


def airflow_version() -> tuple[int, int]:
    """(major, minor) of the Airflow under test."""
    import airflow

    major, minor = airflow.__version__.split(".")[:2]
    return int(major), int(minor)


def has_task_state_store() -> bool:
    """True on Airflow 3.3+: ``task_state_store`` exists and a retried upload or import resumes."""
    return airflow_version() >= (3, 3)


def task_runtime_hooks() -> Any:
    """The hooks workers see: ``ProvidersManagerTaskRuntime`` since 3.2, ``ProvidersManager`` before."""
    if airflow_version() >= (3, 2):
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        return ProvidersManagerTaskRuntime().hooks
    from airflow.providers_manager import ProvidersManager

    return ProvidersManager().hooks


def dag_bag(dag_folder: str | Path) -> Any:
    """``DagBag(dag_folder=...)`` from wherever this Airflow keeps it."""
    namespace: dict[str, Any] = {}
    exec(DAGBAG_IMPORT, namespace)
    return namespace["DagBag"](dag_folder=str(dag_folder))


def dag_test(bag: Any, dag_id: str, **test_kwargs: Any) -> Any:
    """
    ``dag.test(**test_kwargs)`` of DAG ``dag_id`` in ``bag``; returns the DagRun.

    On Airflow 3.0 it first sets up what a deployment has and 3.0's ``dag.test()`` lacks:

    - the DAG written to the metadata DB, as the dag-processor does (3.1+'s ``dag.test()`` does
      it itself); without it no outlet asset is active and a task with outlets fails
      (apache/airflow#51644);
    - task logs at INFO (``[logging] logging_level``): 3.0 runs the task in-process with structlog
      unconfigured, at DEBUG, printing every message sent to the supervisor, ``MaskSecret`` too;
    - secrets masked in every log line, as 3.0's supervisor masks each line a task or trigger
      process writes. A plain 3.0 ``dag.test()`` masks nothing (``settings.MASK_SECRETS_IN_LOGS``
      is on only in ``airflow tasks test`` and the triggerer), and its masker filter skips a
      non-str argument such as the ``httpx.URL`` that a trigger run inline logs; hence the line
      is rendered, then masked. ``test_triggerer`` checks a real 3.0 triggerer's own log.
    """
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} not found"
    if airflow_version() < (3, 1):
        import structlog
        from airflow import settings
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.utils.session import create_session

        with create_session() as session:
            DagBundlesManager().sync_bundles_to_db(session=session)
        bag.sync_to_db("dags-folder", None)
        settings.MASK_SECRETS_IN_LOGS = True
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, _MaskRenderedLine) for f in handler.filters):
                handler.addFilter(_MaskRenderedLine())
        if not structlog.is_configured():
            structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    return dag.test(**test_kwargs)


class _MaskRenderedLine(logging.Filter):
    """Render a log record's message and mask Airflow's registered secrets in it (Airflow 3.0 only)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from airflow.sdk.execution_time.secrets_masker import redact

        record.msg, record.args = redact(record.getMessage()), ()
        return True


def run_task(ti: Any, task: Any, run_triggerer: bool = False) -> Any:
    """
    Run one task instance through the task runner ``dag.test()`` uses (``_run_task``). Airflow 3.0
    takes the task from ``ti.task``; 3.1+ takes it as an argument.
    """
    import inspect

    from airflow.sdk.definitions.dag import _run_task

    if "task" in inspect.signature(_run_task).parameters:
        return _run_task(ti=ti, task=task, run_triggerer=run_triggerer)
    ti.task = task
    return _run_task(ti=ti, run_triggerer=run_triggerer)


@functools.cache
def control_client() -> httpx.Client:
    """
    One client for every call to the emulator's ``/_emulator`` API in this process.

    ``httpx.get()`` and friends build a new client, SSL context included, on each call: that cost
    more than the call itself, twice per test (reset, clear the faults).
    """
    return httpx.Client(timeout=30)


class Emulator:
    """Read the emulator's state and set its fault knobs (its ``/_emulator`` endpoints)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.root = base_url.split("/v2/")[0]

    def connection_json(self, **extra: Any) -> str:
        conn: dict[str, Any] = {"conn_type": "cincopa", "password": self.token, "host": self.base_url}
        conn["extra"] = {"retries": 3, "retry_deadline": 30, "timeout": 10, **extra}
        return json.dumps(conn)

    def state(self) -> dict[str, Any]:
        return control_client().get(f"{self.root}/_emulator/state").raise_for_status().json()

    def assets(self) -> list[dict[str, Any]]:
        return self.state()["assets"]

    def requests(self, path_prefix: str = "") -> list[dict[str, Any]]:
        return [r for r in self.state()["requests"] if r["path"].startswith(path_prefix)]

    def reset(self) -> None:
        control_client().post(f"{self.root}/_emulator/reset").raise_for_status()

    def faults(self, **knobs: Any) -> None:
        control_client().post(f"{self.root}/_emulator/faults", json=knobs).raise_for_status()

    def clear_faults(self) -> None:
        control_client().delete(f"{self.root}/_emulator/faults").raise_for_status()


def make_file(path: Path, size: int, seed: int = 1) -> str:
    """Write ``size`` pseudo-random bytes to ``path`` block by block; return their sha256."""
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB pattern
    with open(path, "wb") as f:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            # Vary each block so chunks cannot be confused with one another.
            piece = (left.to_bytes(8, "big") + piece)[: len(piece)]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def run_dag(dags_folder: Path, dag_id: str, source: str, **test_kwargs: Any) -> Any:
    """
    Write ``source`` as a DAG file into the dags folder (``dag.test()`` only runs DAGs a bundle
    holds), parse it, run it, and return the DagRun. The caller asserts on its state.
    """
    path = dags_folder / f"{dag_id}.py"
    path.write_text(textwrap.dedent(source))
    bag = dag_bag(path)
    assert not bag.import_errors, bag.import_errors
    return dag_test(bag, dag_id, **test_kwargs)


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id or task_id[map_index]: state}`` of a finished run."""
    return {
        (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
        for ti in dag_run.get_task_instances()
    }


def xcom(dag_run: Any, task_id: str, map_index: int = -1) -> Any:
    """The return value a task pushed in ``dag_run``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value", map_index=map_index
            )
            .one()
        )
        return row.value  # a JSON column: already decoded


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def secrets_seen_by(emulator: Emulator, *known: str) -> set[str]:
    """Every secret the emulator handed out or received since its last reset, plus ``known``."""
    found = {emulator.token, *known}
    for request in emulator.state()["requests"]:
        query = request["query"]
        for key in ("api_token", "hash", "security_key"):
            if query.get(key):
                found.add(query[key])
    return {s for s in found if len(s) >= 5}


def rerun_task(dags_folder: str | Path, dag_id: str, task_id: str) -> tuple[Any, Any]:
    """
    Clear one task of the DAG's only run and run it again through the task runner, as the
    scheduler would after a clear or for a retry: the same task instance, the next try number,
    the same ``task_state_store``. Returns the task instance (detached) and its DagRun.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    dag = dag_bag(Path(dags_folder) / f"{dag_id}.py").get_dag(dag_id)
    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == dag_id).one()
        ti = dag_run.get_task_instance(task_id, session=session)
        ti.state = TaskInstanceState.SCHEDULED
        ti.try_number += 1
        session.commit()
        run_task(ti, dag.task_dict[task_id])
        session.expire_all()
        ti = dag_run.get_task_instance(task_id, session=session)
        session.expunge_all()
    return ti, dag_run


def free_port() -> int:
    """A loopback TCP port that nothing listened on a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def first_event(trigger: Any) -> dict[str, Any]:
    """The payload of the first event ``trigger`` fires when it runs."""
    async for event in trigger.run():
        return event.payload
    raise AssertionError("no event")


# -- deferred tasks resumed through a real `airflow triggerer` ---------------------------------


def defer_every_task(dag: Any) -> None:
    """
    Create a run of ``dag`` and run each of its tasks without the inline trigger runner, so that
    deferring really hands each trigger to a triggerer: every task must end deferred.

    ``dag.test()`` creates and syncs the run with every task only marked successful; the tasks
    are then scheduled again, on their next try, and run here.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState

    dag.test(mark_success_pattern=".*")
    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id).one()
        dag_run.state = DagRunState.RUNNING
        for ti in dag_run.get_task_instances(session=session):
            ti.state, ti.try_number = TaskInstanceState.SCHEDULED, ti.try_number + 1
        session.commit()
    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id).one()
        for ti in dag_run.get_task_instances(session=session):
            run_task(ti, dag.task_dict[ti.task_id], run_triggerer=False)
            assert ti.state == TaskInstanceState.DEFERRED, ti.task_id


def run_triggerer_until_resumed(
    dag_id: str, log_path: Path, *, timeout: float = 180, while_running: Callable[[], None] | None = None
) -> None:
    """
    Run ``airflow triggerer`` until no task of ``dag_id``'s run is deferred any more: each must
    then be scheduled again (its trigger fired). The triggerer's output goes to ``log_path``.

    :param timeout: seconds to wait for every task.
    :param while_running: called once the triggerer is started (to change what a trigger waits for).
    """
    from airflow.models.dagrun import DagRun
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    with create_session() as session:
        # Triggers left by earlier tests' dag.test() runs, whose tasks are long done: a deployment's
        # triggerer would not be handed them (Airflow 3.0's dies running them next to ours).
        live = session.query(TaskInstance.trigger_id).filter(TaskInstance.state == TaskInstanceState.DEFERRED)
        session.query(Trigger).filter(Trigger.id.not_in(live.scalar_subquery())).delete(synchronize_session=False)
    env = {**os.environ, "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port())}
    with log_path.open("a") as log:
        triggerer = subprocess.Popen(
            [sys.executable, "-m", "airflow", "triggerer"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout
        if while_running is not None:
            while_running()
        states: dict[str, Any] = {}
        while time.monotonic() < deadline:
            with create_session() as session:
                dag_run = session.query(DagRun).filter(DagRun.dag_id == dag_id).one()
                states = {ti.task_id: ti.state for ti in dag_run.get_task_instances(session=session)}
            if TaskInstanceState.DEFERRED not in states.values():
                break
            time.sleep(0.5)
        assert set(states.values()) == {TaskInstanceState.SCHEDULED}, (states, log_path.read_text()[-3000:])
    finally:
        triggerer.terminate()
        triggerer.wait(timeout=60)


def resume_every_task(dag: Any) -> tuple[Any, dict[str, Any]]:
    """
    Run each task of ``dag``'s run again once its trigger fired (it resumes in its
    ``method_name``); returns the DagRun and ``{task_id: state}``.
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        dag_run = session.query(DagRun).filter(DagRun.dag_id == dag.dag_id).one()
        for ti in dag_run.get_task_instances(session=session):
            run_task(ti, dag.task_dict[ti.task_id])
        return dag_run, {ti.task_id: ti.state for ti in dag_run.get_task_instances(session=session)}


# -- the unit tier's promise (tests/conftest.py, docs/testing.md) --------------------------------


class UnitTierBreach(Exception):
    """A ``unit`` test did what only a higher tier may (start a process, use the database, ...)."""


class UnitTierGuard:
    """
    While installed, starting a process, using a SQLAlchemy engine (Airflow's database: the only
    one in the test process) or connecting a socket beyond loopback raises :class:`UnitTierBreach`
    and is recorded in :attr:`breaches`, so a test fails even where the code swallowed the error.

    Processes are caught where every way to start one ends: ``subprocess.Popen._execute_child``
    (``subprocess.run``, asyncio's subprocesses) and ``os.fork`` / ``posix_spawn`` / ``system``.

    :param monkeypatch: the test's ``monkeypatch``, which undoes the process and socket patches.
    """

    def __init__(self, monkeypatch: Any) -> None:
        self.breaches: list[str] = []
        self._monkeypatch = monkeypatch

    def breach(self, what: str) -> None:
        self.breaches.append(what)
        raise UnitTierBreach(f"a unit test must not {what} (docs/testing.md)")

    def install(self) -> None:
        guard, mp = self, self._monkeypatch

        real_execute_child = subprocess.Popen._execute_child  # type: ignore[attr-defined]

        def execute_child(popen: Any, args: Any, *rest: Any, **kwargs: Any) -> None:
            if isinstance(args, (list, tuple)) and list(args[:2]) == ["file", "-b"]:
                # The standard library's platform.architecture() probe, which croniter runs once
                # when Airflow 3.0 first imports it (lazily, inside a hook call): not the test's.
                return real_execute_child(popen, args, *rest, **kwargs)
            guard.breach(f"start a process: {args!r}")

        mp.setattr(subprocess.Popen, "_execute_child", execute_child)
        for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system"):
            if hasattr(os, name):
                mp.setattr(os, name, lambda *a, _name=name, **k: guard.breach(f"call os.{_name}"))
        for name in ("connect", "connect_ex"):
            real = getattr(socket.socket, name)

            def connect(sock: socket.socket, address: Any, _real: Any = real) -> Any:
                guard.check_loopback(sock, address)
                return _real(sock, address)

            mp.setattr(socket.socket, name, connect)
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.listen(Engine, "engine_connect", self._on_engine_connect)

    def uninstall(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        event.remove(Engine, "engine_connect", self._on_engine_connect)

    def check_loopback(self, sock: socket.socket, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return  # a Unix socket does not leave the machine
        host = str(address[0])
        try:
            loopback = ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            self.breach(f"connect beyond loopback: {host}")

    def _on_engine_connect(self, connection: Any, *_branch: Any) -> None:  # SQLAlchemy 1.4 adds ``branch``
        self.breach(f"use Airflow's database ({connection.engine.url.render_as_string(hide_password=True)})")


def openlineage_events(dag_id: str, airflow_db: Path, tmp_path: Path, **env: str) -> dict[str, dict[str, Any]]:
    """
    Run ``airflow dags test dag_id`` with the OpenLineage provider's file transport (its real
    listener) and return the COMPLETE event of each task, by task id. ``env`` adds variables.

    The run gets a copy of the session's database: the listener's forked children must not share
    its file.
    """
    import sqlite3

    events_file = tmp_path / "ol.jsonl"
    database = tmp_path / "lineage.db"
    with sqlite3.connect(airflow_db / "airflow.db") as source, sqlite3.connect(database) as copy:
        source.backup(copy)
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    run_env = {
        **os.environ,
        **env,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{database}",
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",  # where the provider has it: no fork at all
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "cincopa-tests",
    }
    done = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", dag_id],
        env=run_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    complete = {}
    for event in map(json.loads, events_file.read_text().splitlines()):
        if event.get("eventType") == "COMPLETE" and "." in event["job"]["name"]:
            complete[event["job"]["name"].split(".")[-1]] = event
    return complete


def lineage_of(event: dict[str, Any]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(inputs, outputs)`` of an OpenLineage event, each dataset as ``(namespace, name)``."""
    inputs = [(d["namespace"], d["name"]) for d in event["inputs"]]
    outputs = [(d["namespace"], d["name"]) for d in event["outputs"]]
    return inputs, outputs
