"""
Benchmark: what importing the provider's operators and sensors costs a DAG file, on top of
``airflow.sdk`` (which every DAG file imports anyway).

    .venv/bin/python benchmarks/import_benchmark.py [--runs 7]

Each run is a fresh interpreter: it imports ``airflow.sdk`` and the names DAG files use from it,
then ``airflow_provider_cincopa.operators.cincopa`` and ``airflow_provider_cincopa.sensors.cincopa``,
and reports the time and the modules the second step added. Prints the median, the modules, and
whether any heavy library (requests, httpx, tenacity, requests_toolbelt, the upload engine) was
among them. ``-X importtime`` detail: ``python -X importtime -c "import airflow_provider_cincopa.operators.cincopa"``.
Numbers are for reading by a person; no test asserts on time.
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys, time
import airflow.sdk
from airflow.sdk import DAG, Asset, BaseHook, BaseOperator, BaseSensorOperator, PokeReturnValue  # what DAG files touch
before = set(sys.modules)
start = time.perf_counter()
import airflow_provider_cincopa.operators.cincopa
import airflow_provider_cincopa.sensors.cincopa
elapsed = time.perf_counter() - start
print(json.dumps({"ms": elapsed * 1000, "modules": sorted(set(sys.modules) - before)}))
"""
HEAVY = ("requests", "httpx", "tenacity", "requests_toolbelt", "urllib3", "airflow_provider_cincopa.hooks.upload")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    # The provider's own bytecode, as an installed wheel has it (an editable checkout where
    # PYTHONDONTWRITEBYTECODE is set would parse every module from source on each run).
    # scripts/bootstrap compiles the installed packages (uv's --compile-bytecode).
    compileall.compile_dir(str(Path(__file__).resolve().parents[1] / "airflow_provider_cincopa"), quiet=1)
    runs = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    modules = runs[-1]["modules"]
    heavy = sorted({m if m.startswith("airflow_provider") else m.split(".")[0] for m in modules if m.startswith(HEAVY)})
    print(f"python {sys.version.split()[0]}, {sys.executable}")
    print("| runs | median ms | min ms | modules added | heavy libraries among them |")
    print("|---|---|---|---|---|")
    times = [r["ms"] for r in runs]
    print(
        f"| {args.runs} | {statistics.median(times):.1f} | {min(times):.1f} | {len(modules)} | "
        f"{', '.join(heavy) or 'none'} |"
    )
    print("\nmodules added:", ", ".join(modules))


if __name__ == "__main__":
    main()
