"""
Benchmark: upload files to the local emulator with the provider and with ``curl``, in one run,
and print throughput, their ratio and the uploader's peak memory.

    .venv/bin/python benchmarks/upload_benchmark.py                       # 256 MiB, 1 GiB, 4 GiB
    .venv/bin/python benchmarks/upload_benchmark.py --sizes-mib 1024 --chunk-mib 16 --parallel 4
    .venv/bin/python benchmarks/upload_benchmark.py --sizes-mib 64 --bandwidth 25000000 --parallel 1,2,4,8
    .venv/bin/python benchmarks/upload_benchmark.py --sizes-mib 1024 --s3   # also from s3:// (moto, see s3_source.py)

curl posts the whole file in one request (``curl -T FILE -X POST`` with the same headers the
provider sends), which is the fastest a single client can put bytes on this loopback. The
provider's uploading process is this script's child, so its peak RSS (``ru_maxrss``) covers
only the hook, Airflow's imports and the chunks in flight, not the emulator or file generation.
With ``--bandwidth`` (the emulator's per-request cap) the table shows what parallel chunks buy.
Numbers are for reading by a person; no test asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

MiB = 1024 * 1024
CHILD = """
import json, os, resource, sys, time
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
path, chunk, parallel = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
hook = CincopaHook()
hook.ping()
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
result = hook.upload_file(path, chunk_size=chunk, max_parallel_chunks=parallel)
elapsed = time.monotonic() - start
print(json.dumps({"rid": result.rid, "seconds": elapsed, "rss_before_kib": rss_before,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _post_json(url: str, body: dict) -> None:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    urllib.request.urlopen(req).read()


def _make_file(path: Path, mib: int) -> None:
    with open(path, "wb") as f:
        block = os.urandom(MiB)
        for i in range(mib):
            f.write(i.to_bytes(8, "big") + block[8:])


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


def _curl(path: Path, upload_url: str) -> float:
    size = path.stat().st_size
    cmd = [
        "curl", "-sS", "-o", "/dev/null", "-X", "POST", "-T", str(path),
        "-H", f"X-File-Name: {path.name}", "-H", f"Content-Range: bytes 0-{size}/{size}",
        "-H", f"unique-id: curl-{time.time_ns()}", "-H", "Content-Type: application/octet-stream",
        "-H", "Expect:", upload_url,
    ]  # fmt: skip
    start = time.monotonic()
    subprocess.run(cmd, check=True)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes-mib", default="256,1024,4096", help="comma list of file sizes")
    parser.add_argument("--chunk-mib", type=int, default=16)
    parser.add_argument("--parallel", default="4", help="chunks in flight; a comma list compares several")
    parser.add_argument("--bandwidth", type=int, default=0, help="emulator cap, bytes/s per request")
    parser.add_argument("--no-curl", action="store_true", help="skip the curl comparison")
    parser.add_argument("--s3", action="store_true", help="also upload each file from s3:// (moto on loopback)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes_mib.split(",")]
    parallels = [int(p) for p in args.parallel.split(",")]

    from airflow_provider_cincopa.emulator.testing import EmulatorProcess
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    token = "bench-" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(token=token) as emulator:
        root = emulator.base_url.split("/v2/")[0]
        conn = json.dumps({"conn_type": "cincopa", "password": token, "host": emulator.base_url})
        env = {**os.environ, "AIRFLOW_CONN_CINCOPA_DEFAULT": conn, "AIRFLOW_HOME": tmp}
        os.environ.update(AIRFLOW_CONN_CINCOPA_DEFAULT=conn, AIRFLOW_HOME=tmp)
        if args.bandwidth:
            _post_json(f"{root}/_emulator/faults", {"bandwidth": args.bandwidth})
        s3 = None
        if args.s3:
            from s3_source import S3Bench  # this folder is on sys.path when the script runs

            s3 = S3Bench(env)
        print(f"chunk {args.chunk_mib} MiB; emulator bandwidth cap {args.bandwidth or 'none'}; {os.cpu_count()} cores")
        print("| file MiB | in flight | provider s | provider MiB/s | curl MiB/s | provider / curl | peak RSS MiB |")
        print("|---|---|---|---|---|---|---|")
        for mib in sizes:
            path = Path(tmp) / f"bench-{mib}.mp4"
            _make_file(path, mib)
            curl_rate = None
            if not args.no_curl:
                curl_rate = mib / _curl(path, CincopaHook().get_upload_url())
            for parallel in parallels:
                r = _provider(path, args.chunk_mib * MiB, parallel, env)
                rate = mib / r["seconds"]
                ratio = f"{rate / curl_rate:.2f} x" if curl_rate else "-"
                curl = f"{curl_rate:.0f}" if curl_rate else "-"
                print(
                    f"| {mib} | {parallel} | {r['seconds']:.2f} | {rate:.0f} | {curl} | {ratio} | "
                    f"{r['peak_rss_kib'] / 1024:.0f} (imports: {r['rss_before_kib'] / 1024:.0f}) |"
                )
                if s3 is not None:  # the same file from s3://, beside the local row; the ratio is to curl from disk
                    r = s3.upload(path, args.chunk_mib * MiB, parallel)
                    rate = mib / r["seconds"]
                    ratio = f"{rate / curl_rate:.2f} x" if curl_rate else "-"
                    print(
                        f"| {mib} s3:// | {parallel} | {r['seconds']:.2f} | {rate:.0f} | - | {ratio} | "
                        f"{r['peak_rss_kib'] / 1024:.0f} (imports: {r['rss_before_kib'] / 1024:.0f}) |"
                    )
            path.unlink()
            _post_json(f"{root}/_emulator/reset", {})
            if args.bandwidth:
                _post_json(f"{root}/_emulator/faults", {"bandwidth": args.bandwidth})


if __name__ == "__main__":
    main()
