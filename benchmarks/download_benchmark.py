"""
Benchmark: downloads from the emulator's CDN with the provider and with ``curl``; peak memory of a
4 GiB download to a local file and to ``s3://`` (moto); an export of 1,000 small assets.

    .venv/bin/python -m compileall -q airflow_provider_cincopa
    .venv/bin/python benchmarks/download_benchmark.py                        # everything
    .venv/bin/python benchmarks/download_benchmark.py --only throughput --size-mib 1024 --repeat 3
    .venv/bin/python benchmarks/download_benchmark.py --only rss --rss-gib 4
    .venv/bin/python benchmarks/download_benchmark.py --only export --assets 1000

The emulator runs as a subprocess (its CLI) over a data folder this script fills directly (the
asset files and ``state.json``), so no upload is timed or needed. ``throughput``: the same
original fetched by ``curl -o`` and by ``CincopaHook.download_version`` into ``--work-dir``
(default ``/dev/shm``), one after the other, alternating which goes first; the ratio is taken
within each run (provider MB/s / curl MB/s), so a machine others load slows both sides alike.
The provider's time is the download call alone (not Python's start or Airflow's imports), in a
child process like curl's. ``rss``: a 4 GiB sparse original (reads as zeros: the disk is not
what is measured) downloaded by a child process to a local file and to ``s3://`` on moto's
server; the peak RSS is the child's ``ru_maxrss``. ``export``: ``export_assets`` of ``--assets``
small assets to a local folder, then again; the CDN requests of the second run are counted in
the emulator's request log (target 0). Numbers are for reading by a person; no test asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MiB = 1024 * 1024
TOKEN = "BENCH" + secrets.token_hex(8)
#: The children's Airflow home (they read connections from the environment only); removed at the end.
AIRFLOW_HOME = Path(tempfile.gettempdir()) / f"cincopa-bench-airflow-{os.getpid()}"


def write_library(data_dir: Path, files: dict[str, tuple[str, int, bool]]) -> None:
    """An emulator data folder holding ``{rid: (filename, size, sparse)}``, as if uploaded."""
    (data_dir / "assets").mkdir(parents=True, exist_ok=True)
    (data_dir / "uploads").mkdir(exist_ok=True)
    assets = []
    block = os.urandom(MiB)
    for number, (rid, (filename, size, sparse)) in enumerate(files.items()):
        path = data_dir / "assets" / rid
        with open(path, "wb") as f:
            if sparse:
                f.truncate(size)
            else:
                for offset in range(0, size, MiB):
                    f.write(block[: min(MiB, size - offset)])
        kind = "video" if filename.endswith(".mp4") else "other"
        assets.append(
            {"rid": rid, "id": 198_000_001 + number, "filename": filename, "size": size, "sha256": None, "type": kind}
        )
    state = {"assets": assets, "webhooks": [], "portals": {}, "galleries": [], "next_id": 199_000_000}
    (data_dir / "state.json").write_text(json.dumps(state))


def start_emulator(data_dir: Path) -> tuple[Any, str]:
    from airflow_provider_cincopa.emulator.testing import start_emulator_process

    return start_emulator_process(TOKEN, ["--data-dir", str(data_dir)])


def child_env(base_url: str, s3_url: str | None = None) -> dict[str, str]:
    conn = {"conn_type": "cincopa", "password": TOKEN, "host": base_url, "extra": {"timeout": 60}}
    env = {**os.environ, "AIRFLOW_CONN_CINCOPA_DEFAULT": json.dumps(conn), "PYTHONPATH": str(ROOT)}
    env.setdefault("AIRFLOW_HOME", str(AIRFLOW_HOME))
    if s3_url:
        # moto assembles a completed multipart upload in memory, which takes minutes for 4 GiB:
        # the client must wait for that answer rather than time out and retry it.
        config = {"read_timeout": 1800, "retries": {"max_attempts": 1}}
        extra = {"endpoint_url": s3_url, "region_name": "us-east-1", "config_kwargs": config}
        aws = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
        env["AIRFLOW_CONN_S3_BENCH"] = json.dumps(aws)
    return env


def run_child(args: list[str], env: dict[str, str]) -> tuple[dict[str, Any], float]:
    """Run ``args``; return its JSON answer (last stdout line) and its peak RSS in MB."""
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"{args[:3]} failed with status {status}: {out[-2000:]}")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    return (json.loads(lines[-1]) if lines else {}), usage.ru_maxrss / 1024


def download_child(rid: str, dest: str, conn_id: str | None, *, timed: bool) -> None:
    """In the child: one download, timed from the call to its return; print the result as JSON."""
    from airflow_provider_cincopa.hooks._lineage import _collector
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    hook = CincopaHook()
    hook.settings  # read the connection before the clock starts  # noqa: B018
    if timed:
        # Airflow's hook lineage collector is made once per process, on its first report: not
        # per download (upload_benchmark.py prints what it costs). Not for the peak RSS, where
        # it is made after the download, as in a task.
        _collector()
    started = time.perf_counter()
    result = hook.download_version(rid, dest, destination_conn_id=conn_id)
    elapsed = time.perf_counter() - started
    print(json.dumps({"seconds": elapsed, "size": result.size, "sha256": result.sha256}))


def curl(url: str, dest: str) -> float:
    out = subprocess.run(
        ["curl", "-sS", "--fail", "-o", dest, "-w", "%{time_total}", url], check=True, capture_output=True, text=True
    )
    return float(out.stdout.strip())


def throughput(work: Path, size_mib: int, repeat: int) -> None:
    data_dir = work / "emulator-throughput"
    write_library(data_dir, {"BENCHTHRU0001": ("big.mp4", size_mib * MiB, False)})
    proc, base_url = start_emulator(data_dir)
    try:
        from airflow_provider_cincopa.emulator.testing import EmulatorProcess

        emu = EmulatorProcess(TOKEN)
        emu.base_url = base_url
        url = emu.call("asset.list", rid="BENCHTHRU0001")["items"][0]["versions"]["original"]["url"]
        env = child_env(base_url)
        ratios = []
        for run in range(repeat):
            sides = ["curl", "provider"] if run % 2 == 0 else ["provider", "curl"]
            seconds = {}
            for side in sides:
                dest = work / f"download-{side}.bin"
                if side == "curl":
                    seconds[side] = curl(url, str(dest))
                else:
                    child = [sys.executable, __file__, "--child", "BENCHTHRU0001", str(dest), "--timed"]
                    answer, _ = run_child(child, env)
                    seconds[side] = answer["seconds"]
                dest.unlink()
            mbps = {side: size_mib * MiB / s / 1e6 for side, s in seconds.items()}
            ratios.append(mbps["provider"] / mbps["curl"])
            print(
                f"throughput run {run + 1} ({'/'.join(sides)} first): curl {mbps['curl']:.0f} MB/s, "
                f"provider {mbps['provider']:.0f} MB/s, ratio {ratios[-1]:.2f}"
            )
        print(f"throughput ratios (provider / curl), {size_mib} MiB: {', '.join(f'{r:.2f}' for r in ratios)}")
    finally:
        from airflow_provider_cincopa.emulator.testing import stop_emulator_process

        stop_emulator_process(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


def rss(work: Path, gib: int, s3_only: bool = False) -> None:
    size = gib * 1024 * MiB
    data_dir = Path(tempfile.mkdtemp(prefix="cincopa-bench-rss-"))  # a sparse file: no disk used
    write_library(data_dir, {"BENCHRSS00001": ("huge.mp4", size, True)})
    proc, base_url = start_emulator(data_dir)
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    s3_url = f"http://{host}:{port}"
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=s3_url, aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket="bench")
        env = child_env(base_url, s3_url)
        if not s3_only:
            dest = work / "rss-download.bin"
            answer, peak = run_child([sys.executable, __file__, "--child", "BENCHRSS00001", str(dest)], env)
            dest.unlink()
            print(f"rss local file: {gib} GiB in {answer['seconds']:.1f}s, peak RSS {peak:.0f} MB")
        args = [sys.executable, __file__, "--child", "BENCHRSS00001", "s3://bench/huge.mp4", "--conn", "s3_bench"]
        answer, peak = run_child(args, env)
        head = s3.head_object(Bucket="bench", Key="huge.mp4")
        assert head["ContentLength"] == size, head
        print(f"rss s3:// (moto): {gib} GiB in {answer['seconds']:.1f}s, peak RSS {peak:.0f} MB")
        s3.delete_object(Bucket="bench", Key="huge.mp4")
    finally:
        from airflow_provider_cincopa.emulator.testing import stop_emulator_process

        moto.stop()
        stop_emulator_process(proc)
        shutil.rmtree(data_dir, ignore_errors=True)


def export(work: Path, count: int) -> None:
    data_dir = work / "emulator-export"
    write_library(data_dir, {f"BENCHEXP{i:05d}": (f"clip{i}.mp4", 10_000 + i, False) for i in range(count)})
    proc, base_url = start_emulator(data_dir)
    dest = work / "export"
    try:
        os.environ.update(child_env(base_url))
        import httpx

        from airflow_provider_cincopa.hooks.cincopa import CincopaHook

        hook = CincopaHook()
        root = base_url.removesuffix("/v2/")
        timings = []
        for label in ("first", "incremental"):
            before = [r for r in httpx.get(f"{root}/_emulator/state", timeout=60).json()["requests"]]
            started = time.perf_counter()
            result = hook.export_assets(str(dest))
            timings.append(time.perf_counter() - started)
            after = httpx.get(f"{root}/_emulator/state", timeout=60).json()["requests"][len(before) :]
            cdn = len([r for r in after if r["path"].startswith("/cdn/")])
            api = len([r for r in after if r["path"].startswith("/v2/")])
            print(
                f"export {label}: {count} assets in {timings[-1]:.1f}s; exported {result.exported}, "
                f"skipped {result.skipped}; {cdn / count:.2f} CDN requests per asset, {api} API calls"
            )
        hook.close_downloads()
        hook.close()
    finally:
        from airflow_provider_cincopa.emulator.testing import stop_emulator_process

        stop_emulator_process(proc)
        shutil.rmtree(data_dir, ignore_errors=True)
        shutil.rmtree(dest, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["throughput", "rss", "export"], action="append")
    parser.add_argument("--size-mib", type=int, default=1024, help="throughput file size (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="throughput runs (default 3)")
    parser.add_argument("--rss-gib", type=int, default=4, help="peak-memory download size (default 4)")
    parser.add_argument("--s3-only", action="store_true", help="rss: only the s3:// download")
    parser.add_argument("--assets", type=int, default=1000, help="assets in the export benchmark (default 1000)")
    parser.add_argument("--work-dir", default="/dev/shm" if Path("/dev/shm").is_dir() else tempfile.gettempdir())
    parser.add_argument("--child", nargs=2, metavar=("RID", "DEST"), help=argparse.SUPPRESS)
    parser.add_argument("--conn", help=argparse.SUPPRESS)
    parser.add_argument("--timed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        download_child(args.child[0], args.child[1], args.conn, timed=args.timed)
        return
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    work = Path(tempfile.mkdtemp(prefix="cincopa-download-bench-", dir=args.work_dir))
    try:
        wanted = args.only or ["throughput", "rss", "export"]
        if "throughput" in wanted:
            throughput(work, args.size_mib, args.repeat)
        if "rss" in wanted:
            rss(work, args.rss_gib, args.s3_only)
        if "export" in wanted:
            export(work, args.assets)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
