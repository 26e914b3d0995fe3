"""
A DAG file that imports the provider's operators and sensors pays for the provider's own small
modules only: requests, httpx, tenacity, requests-toolbelt, the upload engine and the trigger load
when a task first needs them. Checked in a fresh interpreter, by module, not by time.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.emulator

CHILD = """
import json, sys
import airflow.sdk
from airflow.sdk import DAG, Asset, BaseOperator, BaseSensorOperator  # what a DAG file has anyway
before = set(sys.modules)
import airflow_provider_cincopa.operators.cincopa
import airflow_provider_cincopa.operators.galleries
import airflow_provider_cincopa.sensors.cincopa
print(json.dumps(sorted(set(sys.modules) - before)))
"""
LOADED_WHEN_USED = (
    "requests",
    "httpx",
    "tenacity",
    "requests_toolbelt",
    "urllib3",
    "airflow_provider_cincopa.hooks.upload",
    "airflow_provider_cincopa.hooks.sources",
    "airflow_provider_cincopa.upload_state",
    "airflow_provider_cincopa.triggers.cincopa",
    "airflow.triggers",
    "openlineage",
    "airflow.providers.openlineage",
)


def test_operators_and_sensors_import_no_heavy_module():
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True)
    added = json.loads(out.stdout.strip().splitlines()[-1])
    heavy = [m for m in added if m.split(".")[0] in LOADED_WHEN_USED or m.startswith(LOADED_WHEN_USED)]
    assert heavy == [], f"imported at DAG parse: {heavy}"
    assert len(added) <= 40, added
