"""
Benchmark: N ``CincopaUploadStatusTrigger``s in one event loop, one poll each: the triggerer's
load when it (re)starts with N deferred sensors.

    .venv/bin/python benchmarks/trigger_benchmark.py [--triggers 1000]

Starts the emulator on loopback and a tiny HTTP server for the import's source, makes one import
and waits until it is done, then runs N triggers on that status_id concurrently in this process
(each polls once and fires). Prints wall time, the CPU seconds of this process (the triggers) and
of the emulator process (the server side, from /proc on Linux) over the same interval, and the TCP
connections the emulator saw the polls arrive on. On a loaded machine wall time is mostly waiting
for a CPU; compare CPU seconds. Numbers are for reading by a person; no test asserts on time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Source(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"v" * 10_000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


async def _run_all(n: int, status_id: str) -> list[dict]:
    from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger

    async def one() -> dict:
        trigger = CincopaUploadStatusTrigger(status_id=status_id, poll_interval=1.0)
        async for event in trigger.run():
            return event.payload
        raise RuntimeError("the trigger ended without an event")

    return await asyncio.gather(*(one() for _ in range(n)))


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc), or None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _polls(root: str) -> list[dict]:
    state = json.load(urllib.request.urlopen(f"{root}/_emulator/state"))
    return [r for r in state["requests"] if r["path"].endswith("asset.upload_from_url_get_status.json")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--triggers", type=int, default=1000)
    args = parser.parse_args()

    from airflow_provider_cincopa.emulator.testing import EmulatorProcess

    token = "bench-" + os.urandom(8).hex()
    source = ThreadingHTTPServer(("127.0.0.1", 0), _Source)
    threading.Thread(target=source.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as home, EmulatorProcess(token=token) as emulator:
        os.environ.setdefault("AIRFLOW_HOME", home)
        os.environ["AIRFLOW_CONN_CINCOPA_DEFAULT"] = json.dumps(
            {"conn_type": "cincopa", "password": token, "host": emulator.base_url}
        )
        from airflow_provider_cincopa.hooks.cincopa import CincopaHook

        hook = CincopaHook()
        status_id = hook.upload_from_url(f"http://127.0.0.1:{source.server_address[1]}/clip.mp4")
        while hook.get_upload_from_url_status(status_id).state == "running":
            time.sleep(0.1)
        hook.close()
        root = emulator.base_url.split("/v2/")[0]
        polls_before = len(_polls(root))

        server_pid = emulator.proc.pid if emulator.proc else -1
        server_cpu = _cpu_seconds(server_pid)
        wall, cpu = time.perf_counter(), time.process_time()
        events = asyncio.run(_run_all(args.triggers, status_id))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server_after = _cpu_seconds(server_pid)

        polls = _polls(root)[polls_before:]
        connections = len({r["client"] for r in polls})
    source.shutdown()
    fired = sum(1 for e in events if e["status"] == "success")
    server = "n/a" if server_cpu is None or server_after is None else f"{server_after - server_cpu:.2f}"
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    print(
        "| triggers | fired success | wall s | CPU s, triggers (this process) | CPU s, emulator | polls "
        "| TCP connections (emulator side) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.triggers} | {fired} | {wall:.2f} | {cpu:.2f} | {server} | {len(polls)} | {connections} |")


if __name__ == "__main__":
    main()
