"""
Benchmark: upload files to the local emulator with the provider and with ``curl``, in one run,
and print throughput, their ratio, CPU-seconds per GiB on each side and the uploader's peak memory.

    .venv/bin/python benchmarks/upload_benchmark.py                       # 256 MiB, 1 GiB, 4 GiB, 3 runs each
    .venv/bin/python benchmarks/upload_benchmark.py --sizes-mib 1024 --repeat 5
    .venv/bin/python benchmarks/upload_benchmark.py --sizes-mib 64 --bandwidth 25000000 --parallel 1,2,4,8 --no-curl
    .venv/bin/python benchmarks/upload_benchmark.py --sizes-mib 1024 --repeat 1 --s3   # also from s3:// (moto)
    .venv/bin/python benchmarks/upload_benchmark.py --sizes-mib 1024 --answer-latency 0.03 --no-curl

curl posts the whole file in one request (``curl -T FILE -X POST`` with the headers the provider
sends), the fastest a single client puts bytes on this loopback. Each run uploads the same file
with curl and with the provider (its defaults: 16-47 MiB chunks by the file's size, up to 4 in
flight, one while one moves 200 MB/s or more, see hooks/_parallel.py) to the same emulator,
one after the other, alternating which goes first; the ratio is taken within each run, so a
machine that others load slows both sides of it alike. CPU-seconds are per GiB uploaded: curl's
process, the provider's upload (its process's CPU from just before the first chunk to the
answer, so not Airflow's import, nor making Airflow's hook lineage collector, a once-per-process
cost the script prints apart), and the emulator's process while each side uploaded.

The emulator runs with ``--discard-uploads`` (``--keep-bytes`` turns it off): it receives, parses
and counts every byte as always but writes none, so what is measured is the two uploaders and
not the disk. Kept on this machine's disk, a 4 GiB run passes the kernel's dirty-page limit and
whichever side writes then is throttled by writeback; kept in ``/dev/shm``, each run pays for
this VM's first touch of fresh memory pages. Either made two runs of the same code differ by
1.5 x. The files to upload go to ``--work-dir`` (default ``/dev/shm`` where it has room).

The provider's uploading process is this script's child, so its peak RSS (``ru_maxrss``) covers
only the hook, Airflow's imports and the chunks in flight, not the emulator or file generation.
With ``--bandwidth`` (the emulator's per-request cap) and several ``--parallel`` values, the
summary shows what parallel chunks buy against the first value. Numbers are for reading by a
person; no test asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
CHILD = """
import json, os, resource, sys, time
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
path, chunk, parallel = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
from airflow_provider_cincopa.hooks._lineage import _collector
hook = CincopaHook()
hook.ping()
# Airflow's hook lineage collector is made once per process, on the first report (plugin and
# provider discovery): timed apart, as a cost of the process, not of each upload.
lineage_cpu = time.process_time()
_collector()
lineage_cpu = time.process_time() - lineage_cpu
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
cpu, start = time.process_time(), time.monotonic()
result = hook.upload_file(path, chunk_size=chunk or None, max_parallel_chunks=parallel)
elapsed, cpu = time.monotonic() - start, time.process_time() - cpu
print(json.dumps({"rid": result.rid, "seconds": elapsed, "cpu": cpu, "rss_before_kib": rss_before,
                  "lineage_cpu": lineage_cpu,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _post_json(url: str, body: dict) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    urllib.request.urlopen(req).read()


def make_file(path: Path, mib: int) -> None:
    """``mib`` MiB of random bytes, each MiB different (so no layer can deduplicate them)."""
    with open(path, "wb") as f:
        block = os.urandom(MiB)
        for i in range(mib):
            f.write(i.to_bytes(8, "big") + block[8:])


def _cpu_of(pid: int) -> float | None:
    """User + system CPU-seconds of a running process (Linux /proc), None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _provider(path: Path, chunk: int, parallel: int, env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path), str(chunk), str(parallel)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        sys.exit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _curl(path: Path, upload_url: str) -> dict:
    size = path.stat().st_size
    cmd = [
        "curl", "-sS", "-o", "/dev/null", "-X", "POST", "-T", str(path),
        "-H", f"X-File-Name: {path.name}", "-H", f"Content-Range: bytes 0-{size}/{size}",
        "-H", f"unique-id: curl-{time.time_ns()}", "-H", "Content-Type: multipart/form-data",
        "-H", "Expect:", upload_url,
    ]  # fmt: skip
    cpu, start = _children_cpu(), time.monotonic()
    subprocess.run(cmd, check=True)
    return {"seconds": time.monotonic() - start, "cpu": _children_cpu() - cpu}


def _measured(emulator_pid: int, run: Callable[[], dict]) -> tuple[dict, float | None]:
    """Run ``run()``; its result and the emulator's CPU-seconds meanwhile."""
    before = _cpu_of(emulator_pid)
    result = run()
    after = _cpu_of(emulator_pid)
    return result, None if before is None or after is None else after - before


def _curl_run(emulator_pid: int, path: Path, clean: Callable[[], None]) -> tuple[dict, float | None]:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    url = CincopaHook().get_upload_url()
    result = _measured(emulator_pid, partial(_curl, path, url))
    clean()
    return result


def _per_gib(seconds: float | None, mib: int) -> str:
    return "-" if seconds is None else f"{seconds / (mib / 1024):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mib", default="256,1024,4096", help="comma list of file sizes")
    parser.add_argument("--repeat", type=int, default=3, help="runs per size (and per --parallel value)")
    parser.add_argument("--chunk-mib", type=int, default=0, help="0: the provider's default (16-47 MiB by size)")
    parser.add_argument("--parallel", default="4", help="chunks in flight; a comma list compares several")
    parser.add_argument("--bandwidth", type=int, default=0, help="emulator cap, bytes/s per request")
    parser.add_argument(
        "--answer-latency",
        type=float,
        default=0.0,
        help="seconds the emulator's upload host takes to answer each chunk it read (a far host)",
    )
    parser.add_argument("--no-curl", action="store_true", help="skip the curl comparison")
    parser.add_argument("--s3", action="store_true", help="also upload each file from s3:// (moto on loopback)")
    parser.add_argument("--emulator-args", default="", help="more emulator CLI arguments, e.g. '--http h11'")
    parser.add_argument("--work-dir", help="where the files to upload go (default: /dev/shm if roomy)")
    parser.add_argument("--keep-bytes", action="store_true", help="the emulator stores what it receives")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes_mib.split(",")]
    parallels = [int(p) for p in args.parallel.split(",")]

    from airflow_provider_cincopa.emulator.testing import EmulatorProcess

    token = "bench-" + os.urandom(8).hex()
    work_dir = args.work_dir or _memory_dir(max(sizes) * MiB * 1.5)
    extra = [*([] if args.keep_bytes else ["--discard-uploads"]), *args.emulator_args.split()]
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp, EmulatorProcess(token=token, extra_args=extra) as emulator:
        _run(args, sizes, parallels, token, tmp, emulator)


def _memory_dir(needed: float) -> str | None:
    """``/dev/shm`` if it can hold ``needed`` bytes, else the default temp dir."""
    try:
        return "/dev/shm" if shutil.disk_usage("/dev/shm").free > needed else None
    except OSError:
        return None


def _run(args: argparse.Namespace, sizes: list[int], parallels: list[int], token: str, tmp: str, emulator: Any) -> None:
    assert emulator.proc is not None
    emulator_pid = emulator.proc.pid
    root = emulator.base_url.split("/v2/")[0]
    conn = json.dumps({"conn_type": "cincopa", "password": token, "host": emulator.base_url})
    env = {**os.environ, "AIRFLOW_CONN_CINCOPA_DEFAULT": conn, "AIRFLOW_HOME": tmp}
    os.environ.update(AIRFLOW_CONN_CINCOPA_DEFAULT=conn, AIRFLOW_HOME=tmp)

    def clean() -> None:
        _post_json(f"{root}/_emulator/reset", {})  # deletes the assets: 4 GiB each
        knobs: dict[str, Any] = {"bandwidth": args.bandwidth} if args.bandwidth else {}
        if args.answer_latency:
            knobs["latency"] = {"path_prefix": "/upload/", "seconds": args.answer_latency, "after_body": True}
        if knobs:
            _post_json(f"{root}/_emulator/faults", knobs)

    clean()
    s3 = None
    if args.s3:
        from s3_source import S3Bench  # this folder is on sys.path when the script runs

        s3 = S3Bench(env)
    chunk_text = f"{args.chunk_mib} MiB" if args.chunk_mib else "the default (16-47 MiB by size)"
    print(
        f"chunk {chunk_text}; emulator bandwidth cap {args.bandwidth or 'none'}; "
        f"answer latency {args.answer_latency or 'none'}; "
        f"emulator args {' '.join(emulator.extra_args) or '(defaults)'}; files in {Path(tmp).parent}; "
        f"{os.cpu_count()} cores; "
        f"load average at start {os.getloadavg()[0]:.1f}"
    )
    print("CPU columns: CPU-seconds per GiB uploaded (emulator: while curl / while the provider uploaded)")
    print()
    print(
        "| file MiB | in flight | run | curl MiB/s | provider MiB/s | provider / curl | curl CPU | "
        "provider CPU | emulator CPU | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary: dict[tuple[int, int], dict[str, list[float]]] = {}
    for mib in sizes:
        path = Path(tmp) / f"bench-{mib}.mp4"
        make_file(path, mib)
        for parallel in parallels:
            for run in range(args.repeat):
                chunk = args.chunk_mib * MiB
                curl, emu_curl = ({}, None) if args.no_curl or run % 2 else _curl_run(emulator_pid, path, clean)
                provider, emu_provider = _measured(emulator_pid, partial(_provider, path, chunk, parallel, env))
                clean()
                if not args.no_curl and run % 2:
                    curl, emu_curl = _curl_run(emulator_pid, path, clean)
                rate = mib / provider["seconds"]
                curl_rate = mib / curl["seconds"] if curl else None
                ratio = rate / curl_rate if curl_rate else None
                stats = summary.setdefault((mib, parallel), {"rate": [], "ratio": [], "rss": [], "lineage": []})
                stats["lineage"].append(provider["lineage_cpu"])
                stats["rate"].append(rate)
                stats["rss"].append(provider["peak_rss_kib"] / 1024)
                if ratio is not None:
                    stats["ratio"].append(ratio)
                cells = [
                    mib,
                    parallel,
                    run + 1,
                    f"{curl_rate:.0f}" if curl_rate else "-",
                    f"{rate:.0f}",
                    f"{ratio:.2f} x" if ratio else "-",
                    _per_gib(curl.get("cpu"), mib),
                    _per_gib(provider["cpu"], mib),
                    f"{_per_gib(emu_curl, mib)} / {_per_gib(emu_provider, mib)}",
                    f"{provider['peak_rss_kib'] / 1024:.0f} (imports: {provider['rss_before_kib'] / 1024:.0f})",
                ]
                print("| " + " | ".join(map(str, cells)) + " |", flush=True)
            if s3 is not None:  # the same file from s3://, beside the local rows; the ratio is to curl from disk
                r = s3.upload(path, args.chunk_mib * MiB, parallel)
                clean()
                rate = mib / r["seconds"]
                print(
                    f"| {mib} s3:// | {parallel} | - | - | {rate:.0f} | - | - | - | - | "
                    f"{r['peak_rss_kib'] / 1024:.0f} (imports: {r['rss_before_kib'] / 1024:.0f}) |",
                    flush=True,
                )
        path.unlink()

    print()
    print("| file MiB | in flight | provider MiB/s (median) | provider / curl (median, min-max) | "
          f"vs {parallels[0]} in flight | peak RSS MiB (max) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for (mib, parallel), stats in summary.items():
        rate = statistics.median(stats["rate"])
        base = statistics.median(summary[(mib, parallels[0])]["rate"])
        ratios = stats["ratio"]
        ratio = f"{statistics.median(ratios):.2f} x ({min(ratios):.2f}-{max(ratios):.2f})" if ratios else "-"
        print(f"| {mib} | {parallel} | {rate:.0f} | {ratio} | {rate / base:.2f} x | {max(stats['rss']):.0f} |")
    lineage = [cpu for stats in summary.values() for cpu in stats["lineage"]]
    if lineage:
        print()
        print(
            f"Not in the figures above: making Airflow's hook lineage collector, once per process before "
            f"its first upload, {min(lineage):.2f}-{max(lineage):.2f} CPU-s (connection extra lineage: false "
            "skips it)."
        )


if __name__ == "__main__":
    main()
