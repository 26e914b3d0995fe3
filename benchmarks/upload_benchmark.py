"""
Benchmark: upload a large file to the local emulator and print throughput and peak memory.

    .venv/bin/python benchmarks/upload_benchmark.py --size-mib 1024 --chunk-mib 16 --parallel 4

The uploading process is this script's child, so its peak RSS (``ru_maxrss``) covers only the
hook, Airflow's imports and the chunks in flight, not the emulator or the file generation.
Numbers are for reading by a person; no test asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--chunk-mib", type=int, default=16)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--bandwidth", type=int, default=0, help="emulator cap, bytes/s per connection")
    args = parser.parse_args()

    from airflow_provider_cincopa.emulator.testing import EmulatorProcess

    token = "bench-" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory() as tmp, EmulatorProcess(token=token) as emulator:
        path = Path(tmp) / "bench.mp4"
        with open(path, "wb") as f:
            block = os.urandom(1024 * 1024)
            for i in range(args.size_mib):
                f.write(i.to_bytes(8, "big") + block[8:])
        if args.bandwidth:
            root = emulator.base_url.split("/v2/")[0]
            req = urllib.request.Request(
                f"{root}/_emulator/faults",
                data=json.dumps({"bandwidth": args.bandwidth}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(req).read()
        env = {
            **os.environ,
            "AIRFLOW_CONN_CINCOPA_DEFAULT": json.dumps(
                {"conn_type": "cincopa", "password": token, "host": emulator.base_url}
            ),
        }
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path), str(args.chunk_mib * 1024 * 1024), str(args.parallel)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
    mib = args.size_mib
    print(f"file: {mib} MiB, chunk {args.chunk_mib} MiB x {args.parallel} in parallel")
    print(f"time: {r['seconds']:.2f} s  throughput: {mib / r['seconds']:.1f} MiB/s")
    print(
        f"uploader peak RSS: {r['peak_rss_kib'] / 1024:.1f} MiB "
        f"(after imports, before upload: {r['rss_before_kib'] / 1024:.1f} MiB)"
    )


if __name__ == "__main__":
    main()
