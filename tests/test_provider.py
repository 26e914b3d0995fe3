"""Airflow knows the provider: provider info, connection form, CLI, Test button."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow
import jsonschema
import pytest

from airflow_provider_cincopa import __version__, get_provider_info
from tests.conftest import TOKEN
from tests.support import airflow_version, task_runtime_hooks

AIRFLOW_DIR = Path(airflow.__file__).parent


def test_provider_info_validates_against_airflow_schema():
    schema = json.loads((AIRFLOW_DIR / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-cincopa" and info["versions"] == [__version__]


def test_connection_form_validates_against_provider_yaml_schema():
    yaml_schema = json.loads((AIRFLOW_DIR / "provider.yaml.schema.json").read_text())
    conn_schema = yaml_schema["properties"]["connection-types"]["items"]
    [conn] = get_provider_info()["connection-types"]
    jsonschema.validate(conn, conn_schema)


def test_declared_modules_import():
    import importlib

    info = get_provider_info()
    for layer in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[layer]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    module, _, name = info["connection-types"][0]["hook-class-name"].rpartition(".")
    hook = getattr(importlib.import_module(module), name)
    assert (hook.conn_type, hook.default_conn_name, hook.hook_name) == ("cincopa", "cincopa_default", "Cincopa")
    from airflow.sdk import BaseOperatorLink

    assert info["extra-links"] == ["airflow_provider_cincopa.links.cincopa.CincopaAssetLink"]
    for path in info["extra-links"]:
        module, _, name = path.rpartition(".")
        assert issubclass(getattr(importlib.import_module(module), name), BaseOperatorLink)


@pytest.mark.emulator
def test_providers_manager_builds_the_connection_form():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-cincopa" in manager.providers
    assert "airflow_provider_cincopa.links.cincopa.CincopaAssetLink" in manager.extra_links_class_names
    hook_info = task_runtime_hooks()["cincopa"]
    assert hook_info is not None and hook_info.hook_name == "Cincopa" and hook_info.connection_testable
    behaviour = manager.field_behaviours["cincopa"]
    assert {"schema", "port", "login"} <= set(behaviour["hidden_fields"])
    assert behaviour["relabeling"] == {"password": "API token", "host": "API base URL"}
    assert behaviour["placeholders"]["host"] == "https://api.cincopa.com/v2/"
    widgets = manager.connection_form_widgets
    assert {
        "extra__cincopa__timeout",
        "extra__cincopa__retries",
        "extra__cincopa__retry_deadline",
        "extra__cincopa__dashboard_url_template",
    } <= set(widgets)
    timeout = widgets["extra__cincopa__timeout"].field
    if airflow_version() >= (3, 2):
        assert timeout["value"] == 60
    else:  # 3.0, 3.1: the hook's wtforms field, a text field (those releases have no number field)
        assert timeout.args == ("Request timeout (seconds)",) and timeout.kwargs["default"] == "60"


@pytest.mark.emulator
def test_ui_api_serves_the_connection_form():
    """The hook metadata the UI builds its connection form from (the same on every Airflow 3)."""
    # In a process of its own, as in the api-server: this one's providers manager has real
    # wtforms fields by now, where 3.0 and 3.1 build the UI's from mocked ones.
    code = (
        "from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService\n"
        "[meta] = [m for m in HookMetaService.hook_meta_data() if m.connection_type == 'cincopa']\n"
        "print('META=' + meta.model_dump_json())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("META=")]
    meta = json.loads(line[len("META=") :])
    fields = meta["standard_fields"]
    assert (fields["password"]["title"], fields["host"]["title"]) == ("API token", "API base URL")
    assert fields["host"]["placeholder"] == "https://api.cincopa.com/v2/"
    assert fields["login"]["hidden"] and fields["port"]["hidden"] and fields["url_schema"]["hidden"]
    extra = meta["extra_fields"]
    assert set(extra) == {"timeout", "retries", "retry_deadline", "max_parallel_chunks", "dashboard_url_template"}
    assert extra["timeout"]["schema"]["title"] == "Request timeout (seconds)"
    assert str(extra["timeout"]["value"]) == "60" and extra["retries"]["value"] == 10


def _airflow_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "airflow", *args], env=env, capture_output=True, text=True, timeout=180
    )


@pytest.mark.deployment
def test_airflow_cli_lists_provider_and_tests_connection(emulator, airflow_db):
    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    listed = _airflow_cli("providers", "list", "--output", "json", env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert any(p["package_name"] == "airflow-provider-cincopa" for p in json.loads(listed.stdout))

    good = _airflow_cli("connections", "test", "cincopa_default", env=env)
    assert good.returncode == 0, good.stderr[-2000:]
    assert "Connection success!" in good.stdout, good.stdout[-2000:]

    env["AIRFLOW_CONN_CINCOPA_DEFAULT"] = json.dumps(
        {"conn_type": "cincopa", "password": "wrong-token-xyz", "host": emulator.base_url}
    )
    bad = _airflow_cli("connections", "test", "cincopa_default", env=env)
    output = bad.stdout + bad.stderr
    assert "403" in output and "API token" in output
    assert "wrong-token-xyz" not in output and TOKEN not in output


@pytest.mark.parametrize("field", ["timeout", "retries", "retry_deadline", "max_parallel_chunks"])
def test_conn_fields_have_labels_and_defaults(field):
    [conn] = get_provider_info()["connection-types"]
    spec = conn["conn-fields"][field]
    assert spec["label"] and spec["description"] and "default" in spec["schema"]
