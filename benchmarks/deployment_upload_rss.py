"""
Benchmark: the memory of a real deployment's task process while ``CincopaUploadFileOperator``
uploads a large file with its defaults (chunk size by file size, up to 4 in flight).

    .venv/bin/python benchmarks/deployment_upload_rss.py [--size-mib 4096] [--runs 1]

Starts the emulator on loopback and a deployment (tests/deployment.py: api-server, scheduler with
the LocalExecutor, dag-processor, triggerer; SQLite) whose one DAG uploads the file. The upload
task is the provider's operator with a thin subclass that reads its own process's memory from
``/proc/self/status`` when ``execute`` starts and when it ends, and pushes the figures to XCom:

- ``VmRSS`` at the start of ``execute``: what Airflow's task runner, the DAG file and the
  operator's imports hold before the provider does anything;
- ``VmHWM`` at the start and at the end: the peak before the upload, and the process's peak over
  its whole life (what a container's memory limit sees);
- the difference between the final peak and the starting RSS: what the upload added (the hook's
  imports on first use, the chunk buffers, the HTTP pool).

The benchmark also samples the supervisor (the task runner's parent, which relays its logs) with
psutil every 0.2 s for its peak. Numbers are for reading by a person; no test asserts on them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from upload_benchmark import make_file  # this folder is on sys.path when the script runs

from tests.deployment import Deployment  # the tests' deployment harness

MiB = 1024 * 1024
DAG_SOURCE = '''
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG

from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator


def _memory() -> dict:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return {key: int(fields[key].split()[0]) // 1024 for key in ("VmRSS", "VmHWM")}  # MiB


class MeasuredUpload(CincopaUploadFileOperator):
    """The provider's operator, unchanged, with its process's memory read around execute."""

    def execute(self, context):
        start = _memory()
        result = super().execute(context)
        end = _memory()
        context["ti"].xcom_push(key="memory", value={"start": start, "end": end, "pid": __import__("os").getpid()})
        return result


with DAG("bench_upload_rss", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    MeasuredUpload(task_id="upload", source_path="{{ dag_run.conf['path'] }}", if_exists="upload")
'''


def _sample_supervisor(deployment: Deployment, stop: threading.Event, peaks: dict[str, int]) -> None:
    """Peak RSS of the scheduler's descendants whose child is the task runner (the supervisors)."""
    scheduler = psutil.Process(deployment.procs["scheduler"].pid)
    while not stop.is_set():
        try:
            for proc in scheduler.children(recursive=True):
                rss = proc.memory_info().rss // MiB
                role = "supervisor" if proc.children() else "task runner or executor worker"
                peaks[role] = max(peaks.get(role, 0), rss)
        except psutil.Error:
            pass
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=4096)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()

    from airflow_provider_cincopa.emulator.testing import EmulatorProcess

    token = "bench-" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory() as home, EmulatorProcess(token=token) as emulator:
        path = Path(home) / f"bench-{args.size_mib}.mp4"
        make_file(path, args.size_mib)
        connection = json.dumps({"conn_type": "cincopa", "password": token, "host": emulator.base_url})
        dags, connections = {"bench_upload_rss.py": DAG_SOURCE}, {"cincopa_default": connection}
        deployment = Deployment(Path(home) / "airflow", dags=dags, connections=connections)
        root = emulator.base_url.split("/v2/")[0]
        print(f"{args.size_mib} MiB file, the operator's defaults, LocalExecutor, Airflow deployment")
        print("| run | state | MiB/s | task RSS at execute start | task peak before upload | task peak | "
              "added by the upload | supervisor or executor worker peak (sampled) |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        with deployment:
            for run in range(args.runs):
                import httpx

                httpx.post(f"{root}/_emulator/reset", timeout=60).raise_for_status()
                stop, peaks = threading.Event(), {}
                sampler = threading.Thread(target=_sample_supervisor, args=(deployment, stop, peaks), daemon=True)
                sampler.start()
                run_id = deployment.trigger("bench_upload_rss", {"path": str(path)})
                result = deployment.wait_for_run("bench_upload_rss", run_id, timeout=1800)
                stop.set()
                sampler.join()
                memory = deployment.xcom("bench_upload_rss", run_id, "upload", key="memory")
                ti = deployment.ti("bench_upload_rss", run_id, "upload")
                seconds = _seconds(ti)
                if not memory:
                    print(f"| {run + 1} | {result['state']} | - | - | - | - | - | - |")
                    continue
                start, end = memory["start"], memory["end"]
                cells = [
                    run + 1,
                    result["state"],
                    f"{args.size_mib / seconds:.0f} (whole task)" if seconds else "-",
                    f"{start['VmRSS']} MiB",
                    f"{start['VmHWM']} MiB",
                    f"{end['VmHWM']} MiB",
                    f"{end['VmHWM'] - start['VmRSS']} MiB",
                    f"{peaks.get('supervisor', 0)} MiB",
                ]
                print("| " + " | ".join(map(str, cells)) + " |", flush=True)


def _seconds(ti: dict) -> float | None:
    from datetime import datetime

    if not ti.get("start_date") or not ti.get("end_date"):
        return None
    start, end = (datetime.fromisoformat(ti[key].replace("Z", "+00:00")) for key in ("start_date", "end_date"))
    return (end - start).total_seconds()


if __name__ == "__main__":
    main()
