"""
A real Airflow deployment for tests: ``airflow api-server``, ``scheduler``, ``dag-processor`` and
``triggerer`` as separate processes (LocalExecutor, SQLite) in a private ``AIRFLOW_HOME``.

Everything goes through the deployment's own REST API (``/api/v2``): triggering runs, reading task
instances, XComs, logs and ``task_state_store``. The test kills processes (a task's runner, the
triggerer) and lets the scheduler's own retries do the rest.

Settings that make it quick (a killed task is retried within seconds, a killed triggerer's
triggers are taken over within ~10 s) are in :meth:`Deployment._settings`.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support import free_port

#: Every component; the order is the start order.
COMPONENTS = ("api-server", "dag-processor", "scheduler", "triggerer")
#: Terminal task-instance states.
TI_DONE = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
RUN_DONE = frozenset({"success", "failed"})

#: Put this into a DAG file and pass ``pre_execute=record_pid`` to a task: it writes the PID of the
#: process that runs the task (the task runner, forked by the supervisor) where the harness finds it.
RECORD_PID_SOURCE = """
def record_pid(context):
    import os
    from pathlib import Path

    ti = context["ti"]
    name = f"{ti.dag_id}__{ti.run_id}__{ti.task_id}__{ti.map_index}__{ti.try_number}.pid"
    folder = Path(os.environ["CINCOPA_DEPLOYMENT_PIDS"])
    (folder / (name + ".tmp")).write_text(str(os.getpid()))
    os.replace(folder / (name + ".tmp"), folder / name)  # never seen half-written
"""


WATCHDOG_SOURCE = """
import os, sys, time, psutil
parent, home = psutil.Process(int(sys.argv[1])), sys.argv[2]
while parent.is_running() and parent.status() != psutil.STATUS_ZOMBIE:  # is_running: not a reused PID
    time.sleep(1)
for p in psutil.process_iter():
    try:
        if p.pid != os.getpid() and p.cwd() == home:
            p.kill()
    except psutil.Error:
        pass
"""


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if the test process dies without stopping it (Linux)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


class DeploymentError(AssertionError):
    """A component died, a wait timed out, or the REST API answered an error."""


def _tail(path: Path, lines: int, skip: str | None = None) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    kept = [line for line in text.splitlines() if skip is None or skip not in line]
    return "\n".join(kept[-lines:])


class Deployment:
    """
    One Airflow deployment in ``home``.

    :param home: an empty directory: AIRFLOW_HOME (database, logs, dags, config, process logs).
    :param dags: ``{file name: source}`` written into the dags folder before anything starts, so
        the first parse finds them. Use ``dag_run.conf`` for what changes from run to run.
    :param connections: ``{conn_id: JSON}``, set as ``AIRFLOW_CONN_<ID>`` for every component.
    :param fernet_key: ``[core] fernet_key``; ``""`` for a deployment without one.
    :param env: more environment variables for every component.
    """

    def __init__(
        self,
        home: Path,
        *,
        dags: dict[str, str],
        connections: dict[str, str] | None = None,
        fernet_key: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.home = Path(home)
        self.dags_folder = self.home / "dags"
        self.logs_folder = self.home / "logs"
        self.proc_logs = self.home / "process-logs"
        self.pids_folder = self.home / "pids"
        for folder in (self.dags_folder, self.logs_folder, self.proc_logs, self.pids_folder):
            folder.mkdir(parents=True, exist_ok=True)
        self.dags = dict(dags)
        self.connections = dict(connections or {})
        self.fernet_key = base64.urlsafe_b64encode(os.urandom(32)).decode() if fernet_key is None else fernet_key
        self.extra_env = dict(env or {})
        self.port = free_port()
        self._ports = (free_port(), free_port())
        self._secret_key, self._jwt_secret = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.marker = uuid.uuid4().hex  # in every component's environment: finds strays at stop
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self._log_files: dict[str, Any] = {}
        self._retired: list[tuple[str, subprocess.Popen[bytes]]] = []  # killed on purpose
        self._generation: dict[str, int] = {}
        self._watchdog: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    # -- configuration --------------------------------------------------------------------------

    def _settings(self) -> dict[str, str]:
        s = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "8",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            # Task runners talk to the api-server's execution API, on our port (not :8080).
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home}/airflow.db",
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs_folder),
            # The log servers are skipped (-s), but keep them off the shared default ports anyway.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._ports[0]),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._ports[1]),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            # One secret for all components: the scheduler signs task tokens the api-server checks.
            "AIRFLOW__API__SECRET_KEY": self._secret_key,
            "AIRFLOW__API_AUTH__JWT_SECRET": self._jwt_secret,
            # Quick: a dead task's heartbeat is missed after 20 s, checked every 5 s.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "AIRFLOW__SCHEDULER__TRIGGER_TIMEOUT_CHECK_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__BUNDLE_REFRESH_CHECK_INTERVAL": "2",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            # A SIGKILLed triggerer's triggers go to a live one after ~8 s without its heartbeat.
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "8",
            "CINCOPA_DEPLOYMENT_PIDS": str(self.pids_folder),
            "CINCOPA_DEPLOYMENT_MARKER": self.marker,
            "PYTHONUNBUFFERED": "1",
        }
        for conn_id, value in self.connections.items():
            s[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
        return {**s, **self.extra_env}

    def env(self) -> dict[str, str]:
        # Nothing Airflow-related leaks in from the test process (its own AIRFLOW_HOME, connections).
        base = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {**base, **self._settings()}

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 240) -> Deployment:
        """Migrate the database, start every component, wait until the DAGs are parsed."""
        deadline = time.monotonic() + timeout
        for name, source in self.dags.items():
            (self.dags_folder / name).write_text(textwrap.dedent(source))
        with open(self.proc_logs / "db-migrate.log", "wb") as log:
            done = subprocess.run(
                [sys.executable, "-m", "airflow", "db", "migrate"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=max(30, deadline - time.monotonic()),
                cwd=self.home,
            )
        if done.returncode:
            raise DeploymentError(f"airflow db migrate failed:\n{_tail(self.proc_logs / 'db-migrate.log', 60)}")
        self._start_watchdog()
        for name in COMPONENTS:
            self.start_component(name)
        self._wait_api(deadline)
        self.wait_for_dags(self._dag_ids(), deadline - time.monotonic())
        self.wait_for_triggerer(deadline - time.monotonic())
        return self

    def _start_watchdog(self) -> None:
        """
        A tiny process that, should the test process die without :meth:`stop` (SIGKILL, OOM),
        kills everything running in ``home``: components have PR_SET_PDEATHSIG, but executor
        workers and task runners would outlive them.
        """
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG_SOURCE, str(os.getpid()), str(self.home.resolve())],
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start_component(self, name: str) -> subprocess.Popen[bytes]:
        """Start (or start again) one component in a new session (its own process group)."""
        assert name not in self.procs or self.procs[name].poll() is not None, f"{name} is running"
        gen = self._generation[name] = self._generation.get(name, 0) + 1
        log_path = self.proc_logs / (f"{name}.log" if gen == 1 else f"{name}.{gen}.log")
        log = self._log_files[f"{name}.{gen}"] = open(log_path, "wb")  # noqa: SIM115 (closed at stop)
        cmd = [sys.executable, "-m", "airflow", name]
        if name == "api-server":
            cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        elif name in ("scheduler", "triggerer"):
            cmd += ["--skip-serve-logs"]
        proc = subprocess.Popen(
            cmd,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.home,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.procs[name] = proc
        return proc

    def kill_component(self, name: str, sig: int = signal.SIGKILL) -> None:
        """
        Send ``sig`` to a component, its process group and every descendant (task runners and
        trigger runners sit in groups of their own), as if its machine died; reap it.
        """
        proc = self.procs[name]
        self._retired.append((name, proc))
        try:
            family = [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            family = []
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        for p in family:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)
        proc.wait(timeout=30)
        psutil.wait_procs([p for p in family if p.pid != proc.pid], timeout=30)

    def stop(self, grace: float = 20) -> None:
        """SIGTERM every process group, then SIGKILL what is left, strays included. Idempotent."""
        family = self._family()
        procs = [p for p in self.procs.values() if p.poll() is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        # Task runners and trigger runners live in process groups of their own: kill what is left.
        left = [p for p in {*family, *self.strays()} if p.is_running()]
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(left, timeout=10)
        if self._watchdog is not None and self._watchdog.poll() is None:
            self._watchdog.kill()
            self._watchdog.wait(timeout=10)
        for log in self._log_files.values():
            log.close()
        self._log_files.clear()
        self.client.close()

    def _family(self) -> set[psutil.Process]:
        found = set()
        for proc in self.procs.values():
            with contextlib.suppress(psutil.Error):
                found.update(psutil.Process(proc.pid).children(recursive=True))
        return found

    def strays(self) -> list[psutil.Process]:
        """
        Live processes this deployment started: each component runs in ``home`` and its children
        inherit that working directory. (The marker in their environment is a second sign, but
        ``setproctitle`` overwrites the environment block of workers and task runners.)
        """
        home = str(self.home.resolve())
        found = []
        for p in psutil.process_iter(["pid"]):
            if p.pid == os.getpid():
                continue
            with contextlib.suppress(psutil.Error):
                if p.status() == psutil.STATUS_ZOMBIE:
                    continue
                if p.cwd() == home or p.environ().get("CINCOPA_DEPLOYMENT_MARKER") == self.marker:
                    found.append(p)
        return found

    def __enter__(self) -> Deployment:
        try:
            return self.start()
        except BaseException:
            report = self.failure_report()
            self.stop()
            raise DeploymentError(f"the deployment did not start\n{report}") from None

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- health ---------------------------------------------------------------------------------

    def check_alive(self) -> None:
        """Raise (with log tails) if a component died that the test did not kill."""
        dead = [name for name, p in self.procs.items() if p.poll() is not None and (name, p) not in self._retired]
        if dead:
            raise DeploymentError(f"{', '.join(dead)} exited unexpectedly\n{self.failure_report()}")

    def _wait_api(self, deadline: float) -> None:
        while True:
            self.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                if self.client.get("/api/v2/monitor/health", timeout=5).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise DeploymentError(f"the api-server did not answer on {self.base_url}")
            time.sleep(0.5)

    def wait_for_dags(self, dag_ids: Iterable[str], timeout: float = 120) -> None:
        """Wait until the dag-processor has serialised every DAG, then unpause them."""
        pending = set(dag_ids)

        def parsed() -> bool:
            pending.difference_update({d for d in pending if self.client.get(f"/api/v2/dags/{d}").status_code == 200})
            return not pending

        self.wait(parsed, timeout, f"the dag-processor to parse {sorted(pending)}")
        errors = self.api("GET", "/api/v2/importErrors")
        assert not errors["import_errors"], errors
        for dag_id in self._dag_ids():
            self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def wait_for_triggerer(self, timeout: float = 60) -> None:
        """Wait until a live triggerer has sent its heartbeat (its job is in the health answer)."""

        def healthy() -> bool:
            health = self.api("GET", "/api/v2/monitor/health")
            return (health.get("triggerer") or {}).get("status") == "healthy"

        self.wait(healthy, timeout, "a healthy triggerer")

    def _dag_ids(self) -> list[str]:
        import re

        ids = []
        for source in self.dags.values():
            ids += re.findall(r"""DAG\(\s*(?:dag_id=)?["']([\w.-]+)["']""", source)
        return ids

    # -- REST API -------------------------------------------------------------------------------

    def api(self, method: str, path: str, expect: Iterable[int] = (200, 201, 204), **kwargs: Any) -> Any:
        """One REST call; the JSON answer (None for 204). Open: simple auth manager, all admins."""
        response = self.client.request(method, path, **kwargs)
        if response.status_code not in tuple(expect):
            raise DeploymentError(f"{method} {path} -> HTTP {response.status_code}: {response.text[:2000]}")
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None, run_id: str | None = None) -> str:
        """Start a DAG run (``POST /api/v2/dags/{dag_id}/dagRuns``); return its run_id."""
        run_id = run_id or f"t-{uuid.uuid4().hex[:12]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        return run_id

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")

    def ti(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict[str, Any]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return self.api("GET", path + (f"/{map_index}" if map_index >= 0 else ""))

    def tis(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        """Every task instance of the run (the API answers 100 a page at most)."""
        found: dict[str, dict[str, Any]] = {}
        offset = 0
        while True:
            path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={offset}"
            page = self.api("GET", path)["task_instances"]
            found.update((ti["task_id"], ti) for ti in page)
            offset += len(page)
            if len(page) < 100:
                return found

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """An XCom's value as the REST API gives it (``.../xcomEntries/{key}``, native form)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.api("GET", path)["value"]

    def _state_path(self, dag_id: str, run_id: str, task_id: str, key: str = "") -> str:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/state-store"
        return f"{path}/{key}" if key else path

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        """Every ``task_state_store`` key of a task instance: ``{key: value}``."""
        answer = self.api("GET", self._state_path(dag_id, run_id, task_id))
        return {entry["key"]: entry["value"] for entry in answer["task_state_store"]}

    def get_task_state(self, dag_id: str, run_id: str, task_id: str, key: str) -> Any:
        """One key's value, or None when it is not set."""
        response = self.client.get(self._state_path(dag_id, run_id, task_id, key))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise DeploymentError(f"state-store GET -> HTTP {response.status_code}: {response.text[:500]}")
        return response.json()["value"]

    def set_task_state(self, dag_id: str, run_id: str, task_id: str, key: str, value: Any) -> None:
        """Write a ``task_state_store`` key through the REST API (``PUT .../state-store/{key}``)."""
        self.api("PUT", self._state_path(dag_id, run_id, task_id, key), json={"value": value, "expires_at": None})

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> list[dict[str, Any]]:
        """A try's structured log lines, through ``GET .../logs/{try_number}``."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        answer = self.api("GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"})
        content = answer["content"]
        return [line if isinstance(line, dict) else {"event": str(line)} for line in content]

    # -- waiting --------------------------------------------------------------------------------

    def wait(self, probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
        """Call ``probe`` until it returns something truthy; raise DeploymentError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            self.check_alive()
            try:
                result = probe()
                if result:
                    return result
            except (httpx.HTTPError, DeploymentError) as exc:
                last_error = exc
            if time.monotonic() > deadline:
                # The log tails come with the test report (conftest) or from failure_report().
                raise DeploymentError(
                    f"timed out after {timeout:.0f} s waiting for {what}"
                    + (f" (last error: {last_error})" if last_error else "")
                )
            time.sleep(interval)

    def wait_for_ti(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        states: Iterable[str],
        timeout: float = 120,
        try_number: int | None = None,
    ) -> dict[str, Any]:
        """Wait until a task instance is in one of ``states`` (and at ``try_number``, if given)."""
        wanted = set(states)

        def probe() -> dict[str, Any] | None:
            ti = self.ti(dag_id, run_id, task_id)
            if ti["state"] in wanted and (try_number is None or ti["try_number"] == try_number):
                return ti
            if ti["state"] in TI_DONE and ti["state"] not in wanted:
                raise AssertionError(f"{task_id} ended {ti['state']}, waiting for {sorted(wanted)}")
            return None

        return self.wait(probe, timeout, f"{dag_id}/{run_id}/{task_id} in {sorted(wanted)}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180) -> dict[str, Any]:
        """Wait until a DAG run finished; return it (the caller asserts on its state)."""
        return self.wait(
            lambda: (run := self.dag_run(dag_id, run_id))["state"] in RUN_DONE and run,
            timeout,
            f"{dag_id}/{run_id} to finish",
        )

    def task_pid(self, dag_id: str, run_id: str, task_id: str, try_number: int, timeout: float = 120) -> int:
        """
        The PID of the process running this try (written by ``record_pid`` in ``pre_execute``),
        checked to be the task runner: its process title is ``airflow worker -- <TI id>`` and the
        REST API's ``pid`` of the task instance is the same.
        """
        path = self._pid_file(dag_id, run_id, task_id, try_number)
        self.wait(path.exists, timeout, f"{path.name} (is pre_execute=record_pid set?)", interval=0.1)
        pid = int(path.read_text())
        ti = self.ti(dag_id, run_id, task_id)
        title = " ".join(psutil.Process(pid).cmdline()).strip()
        assert title == f"airflow worker -- {ti['id']}", f"pid {pid} is not the task runner of {ti['id']}: {title!r}"
        assert ti["pid"] in (None, pid), f"the REST API says the task runner is {ti['pid']}, pre_execute ran in {pid}"
        return pid

    def recorded_pid(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> int | None:
        """The PID ``record_pid`` wrote for a try (which may have finished), or None."""
        path = self._pid_file(dag_id, run_id, task_id, try_number)
        return int(path.read_text()) if path.exists() else None

    def _pid_file(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> Path:
        return self.pids_folder / f"{dag_id}__{run_id}__{task_id}__-1__{try_number}.pid"

    # -- logs -----------------------------------------------------------------------------------

    def process_logs(self) -> list[Path]:
        return sorted(self.proc_logs.glob("*.log"))

    def failure_report(self, lines: int = 40) -> str:
        """The tail of every component's log and of every task log: printed when a test fails."""
        parts = []
        for path in self.process_logs():
            # Our own REST polling fills the api-server's access log: only its other lines count.
            tail = _tail(path, lines, skip="[http.access]" if path.name.startswith("api-server") else None)
            parts.append(f"----- {path.name} (last {lines} lines) -----\n{tail}")
        for path in sorted(self.logs_folder.rglob("*.log"), key=lambda p: p.stat().st_mtime)[-6:]:
            rel = path.relative_to(self.logs_folder)
            parts.append(f"----- task log {rel} (last {lines} lines) -----\n{_tail(path, lines)}")
        return "\n".join(parts)

    def files_containing(self, needle: str) -> list[Path]:
        """Every file under the deployment's home (database, task and process logs) holding ``needle``."""
        data = needle.encode()
        return [p for p in self.home.rglob("*") if p.is_file() and data in p.read_bytes()]


class RecordingUploadHost:
    """
    A rogue "upload host" on loopback: records every byte POSTed to it and answers as Cincopa's
    upload host would (``chunk done.``, then ``new resource id`` once it has the whole file), so a
    task that trusted a planted upload URL would really hand its file over.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with host.lock:
                    host.requests.append({"path": self.path, "headers": dict(self.headers), "bytes": len(body)})
                    total = sum(r["bytes"] for r in host.requests)
                size = (self.headers.get("Content-Range") or "/0").rsplit("/", 1)[-1]
                done = size.isdigit() and total >= int(size) > 0
                answer = (
                    b"authentication ok\nnew resource id 999 ROGUEASSET01\ndone.\n"
                    if done
                    else b"authentication ok\nchunk done.\n"
                )
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def bytes_received(self) -> int:
        with self.lock:
            return sum(r["bytes"] for r in self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def recording_upload_host() -> Iterator[RecordingUploadHost]:
    host = RecordingUploadHost()
    try:
        yield host
    finally:
        host.close()
