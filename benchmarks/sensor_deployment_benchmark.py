"""
Benchmark: N ``CincopaUploadStatusSensor``s waiting in a real deployment, ``deferrable=True``
(each starts on a worker, defers, and starts on a worker again to finish) against
``start_from_trigger=True`` (the scheduler hands the wait to the triggerer, which ends the task).

    .venv/bin/python benchmarks/sensor_deployment_benchmark.py [--sensors 30] [--import-seconds 90]
    .venv/bin/python benchmarks/sensor_deployment_benchmark.py --sensors 1000 --ways start_from_trigger

Starts the emulator and a source server on loopback and a deployment (tests/deployment.py:
api-server, scheduler with the LocalExecutor, dag-processor, triggerer; SQLite) with two DAGs:
one import started by ``start``, then N sensors on ``start.output`` either way. Runs each DAG
once and prints, per way:

- worker starts of the sensors: the execution API's "Task started" lines for their task
  instances (one per task runner start; ``start``'s own is not counted);
- worker CPU seconds: the scheduler's executor workers, their supervisors and task runners
  (the scheduler's process tree without the scheduler itself, reaped children included);
- the triggerer's CPU seconds (its supervisor, and the trigger runner process where the triggers'
  event loop runs), the scheduler's own, and the run's wall time.

Numbers are for reading by a person; no test asserts on them. The machine is shared: wall times
vary with its load, the counts do not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.deployment import Deployment  # the tests' deployment harness

BODY = 300_000
DAG_SOURCE = """
from datetime import datetime

from airflow.sdk import DAG

from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator
from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

WAYS = (("bench_sensors_worker", dict(deferrable=True)), ("bench_sensors_trigger", dict(start_from_trigger=True)))
for dag_id, way in WAYS:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
        start = CincopaUploadFromUrlOperator(
            task_id="start", source_url="{{ dag_run.conf['source_url'] }}", wait_for_completion=False, retries=2
        )
        for i in range(N):
            CincopaUploadStatusSensor(task_id=f"wait_{i}", status_id=start.output, poke_interval=2, timeout=900, **way)
"""
DAG_IDS = {"deferrable=True": "bench_sensors_worker", "start_from_trigger=True": "bench_sensors_trigger"}


class _Source(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(BODY))
        self.end_headers()
        self.wfile.write(b"v" * BODY)

    def log_message(self, *args: object) -> None:
        pass


def _cpu(process: psutil.Process, *, own: bool = True, reaped: bool = True) -> float:
    t = process.cpu_times()
    return (t.user + t.system if own else 0.0) + (t.children_user + t.children_system if reaped else 0.0)


def worker_cpu(deployment: Deployment) -> float:
    """CPU of everything the scheduler started (executor workers, supervisors, task runners)."""
    scheduler = psutil.Process(deployment.procs["scheduler"].pid)
    total = _cpu(scheduler, own=False)
    for child in scheduler.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # reaped meanwhile: in its parent's children times
            total += _cpu(child)
    return total


def component_cpu(deployment: Deployment, name: str, *, descendants: bool = False) -> float:
    """A component's own CPU, or (``descendants``) its live and reaped descendants' (the triggerer's runner)."""
    proc = psutil.Process(deployment.procs[name].pid)
    if not descendants:
        return _cpu(proc, reaped=False)
    total = _cpu(proc, own=False)
    for child in proc.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += _cpu(child)
    return total


def task_starts(deployment: Deployment, ti_ids: set[str]) -> int:
    """The execution API's "Task started" lines (one per task runner start) for these task instances."""
    text = (deployment.proc_logs / "api-server.log").read_text(errors="replace")
    started = re.findall(r"Task started .*?ti_id=([0-9a-f-]{36})", text)
    return sum(1 for ti_id in started if ti_id in ti_ids)


def cpu_now(deployment: Deployment) -> dict[str, float]:
    return {
        "worker CPU s": worker_cpu(deployment),
        "triggerer CPU s (supervisor)": component_cpu(deployment, "triggerer"),
        "triggerer CPU s (trigger runner)": component_cpu(deployment, "triggerer", descendants=True),
        "scheduler CPU s": component_cpu(deployment, "scheduler"),
    }


def run_one(deployment: Deployment, emulator_root: str, dag_id: str, source_url: str, seconds: float) -> dict:
    import httpx

    httpx.post(f"{emulator_root}/_emulator/reset", timeout=30).raise_for_status()
    rate = {"import_rate": int(BODY / seconds)}
    httpx.post(f"{emulator_root}/_emulator/faults", json=rate, timeout=30).raise_for_status()
    before = cpu_now(deployment)
    wall = time.monotonic()
    run_id = deployment.trigger(dag_id, {"source_url": source_url})
    run = deployment.wait_for_run(dag_id, run_id, timeout=1800)
    wall = time.monotonic() - wall
    time.sleep(3)  # let the last task runners exit and be reaped
    tis = deployment.tis(dag_id, run_id)
    for task_id, ti in tis.items():
        if ti["state"] != "success" and ti["try_number"]:  # say why: a failed sensor is not only a number
            lines = deployment.task_log(dag_id, run_id, task_id, ti["try_number"])
            errors = [str(line.get("event")) for line in lines if line.get("level") in ("error", "critical")]
            print(f"{dag_id}.{task_id} ended {ti['state']}: {errors[-3:]}")
    sensors = {ti["id"] for task_id, ti in tis.items() if task_id.startswith("wait_")}
    states = {ti["state"] for task_id, ti in tis.items() if task_id.startswith("wait_")}
    after = cpu_now(deployment)
    return {
        "run": run["state"],
        "sensors succeeded": sum(1 for t, ti in tis.items() if t.startswith("wait_") and ti["state"] == "success"),
        "states": ",".join(sorted(s or "none" for s in states)),
        "sensor worker starts": task_starts(deployment, sensors),
        **{key: after[key] - before[key] for key in after},
        "wall s": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sensors", type=int, default=30)
    parser.add_argument(
        "--import-seconds", type=float, default=90, help="how long the import runs (every sensor should defer)"
    )
    parser.add_argument(
        "--ways",
        default="deferrable,start_from_trigger",
        help="which DAGs to run: deferrable, start_from_trigger or both (comma list)",
    )
    args = parser.parse_args()
    ways = {way: dag_id for way, dag_id in DAG_IDS.items() if way.split("=")[0] in args.ways.split(",")}
    if not ways:
        parser.error(f"--ways takes deferrable and/or start_from_trigger, got {args.ways!r}")

    from airflow_provider_cincopa.emulator.testing import EmulatorProcess

    token = "bench-" + os.urandom(8).hex()
    source = ThreadingHTTPServer(("127.0.0.1", 0), _Source)
    threading.Thread(target=source.serve_forever, daemon=True).start()
    source_url = f"http://127.0.0.1:{source.server_address[1]}/clip.mp4"
    results = {}
    with tempfile.TemporaryDirectory() as home, EmulatorProcess(token=token) as emulator:
        extra = {"timeout": 30, "retries": 5}  # a loaded machine: slow answers are not failures
        connection = json.dumps({"conn_type": "cincopa", "password": token, "host": emulator.base_url, "extra": extra})
        dags = {"bench_sensors.py": f"N = {args.sensors}\n" + DAG_SOURCE}
        deployment = Deployment(Path(home), dags=dags, connections={"cincopa_default": connection})
        deployment._dag_ids = lambda: list(DAG_IDS.values())  # type: ignore[method-assign]  (made in a loop)
        root = emulator.base_url.split("/v2/")[0]
        with deployment:
            for way, dag_id in ways.items():
                results[way] = run_one(deployment, root, dag_id, source_url, args.import_seconds)
    source.shutdown()
    keys = list(next(iter(results.values())))
    print(f"{args.sensors} sensors on one import (~{args.import_seconds:.0f} s), LocalExecutor, parallelism 8")
    print("| way | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for way, row in results.items():
        cells = [f"{v:.1f}" if isinstance(v, float) else str(v) for v in row.values()]
        print(f"| {way} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
