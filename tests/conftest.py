"""
Test set-up: a private Airflow home with its SQLite database, the emulator on loopback, and the
test tiers (docs/testing.md).

Airflow reads its configuration when first imported, so the environment is set here, before any
test module imports it.

Tiers: a test marked ``unit``, ``emulator`` or ``deployment`` (its own mark or its module's
``pytestmark``) keeps that mark; any other is classified from the fixtures it uses and the
``slow`` mark (see :func:`tier_of`). A ``unit`` test runs under :func:`unit_tier_guard`, which
fails it if it starts a process, touches Airflow's database or connects beyond loopback.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

AIRFLOW_HOME = Path(os.environ.get("CINCOPA_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="cincopa-airflow-"))
DAGS_FOLDER = AIRFLOW_HOME / "dags"
DAGS_FOLDER.mkdir(parents=True, exist_ok=True)
os.environ.update(
    AIRFLOW_HOME=str(AIRFLOW_HOME),
    AIRFLOW__CORE__DAGS_FOLDER=str(DAGS_FOLDER),
    AIRFLOW__CORE__LOAD_EXAMPLES="False",
    AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{AIRFLOW_HOME}/airflow.db",
    AIRFLOW__LOGGING__BASE_LOG_FOLDER=str(AIRFLOW_HOME / "logs"),
    # As in a real deployment: task_state_store values the provider encrypts need a key.
    AIRFLOW__CORE__FERNET_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
)

#: A token that is easy to search for: the leak tests look for it everywhere.
TOKEN = "LEAKCANARY" + secrets.token_hex(12)
#: The emulator's second token: it may call ping and asset.list only (anything else: HTTP 403).
READONLY = "READONLYTOKEN123"


from tests.support import Emulator  # noqa: E402


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """
    Create Airflow's SQLite metadata database once per test session.

    At the end of the session, the whole database (XComs, rendered fields, serialised triggers,
    task state) and every log file are searched for the api_token: any hit is an error.
    """
    # The real migrations, as `airflow db migrate` runs them: the triggerer needs every table.
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, timeout=300)
    yield AIRFLOW_HOME
    leaks = [str(p) for p in AIRFLOW_HOME.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert not leaks, f"the api_token leaked into {leaks}"


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[Any]:
    """
    One emulator for the whole session, served in this process (uvicorn in a thread on loopback).

    In-process so that hook-level tests are honest unit tests; real Airflow processes of the
    deployment tests reach it over loopback all the same. The CLI in a subprocess, as users start
    it, is tested in tests/test_emulator.py.
    """
    from airflow_provider_cincopa.emulator.server import EmulatorServer

    with EmulatorServer(TOKEN, galleries=("GALLERY00001",), extra_tokens={READONLY: ("ping", "asset.list")}) as server:
        yield server


@pytest.fixture
def emulator(emulator_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """A clean emulator, and the ``cincopa_default`` connection pointing at it (JSON env form)."""
    emu = Emulator(emulator_server.base_url, TOKEN)
    emu.reset()
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emu.connection_json())
    yield emu
    emu.clear_faults()


@pytest.fixture
def hook(emulator: Emulator) -> Iterator[object]:
    """A hook on ``cincopa_default`` with retries fast enough for tests."""
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    h = CincopaHook()
    yield h
    h.close()


@pytest.fixture
def done_import(emulator: Emulator, media_server: MediaServer) -> str:
    """The status_id of a URL import that has finished (the asset exists), for triggers to poll."""
    import time

    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    hook = CincopaHook()
    status_id = hook.upload_from_url(media_server.add("done.mp4", b"d" * 5000))
    deadline = time.monotonic() + 30
    while hook.get_upload_from_url_status(status_id).state == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    hook.close()
    return status_id


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    """Define an Airflow connection through its environment variable (JSON form)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "cincopa", **fields}))


class MediaServer:
    """A tiny HTTP server on loopback that serves in-memory files, as a CMS or CDN would."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        files = self.files = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                # The query is ignored, as a signed URL's signature is by a plain file server.
                body = files.get(self.path.split("?")[0].lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, name: str, body: bytes) -> str:
        self.files[name] = body
        return f"{self.url}/{name}"


@pytest.fixture(scope="session")
def media_server() -> Iterator[MediaServer]:
    """Source files for ``upload_from_url``."""
    server = MediaServer()
    yield server
    server.server.shutdown()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test shows the log tails of every fixture that can give them (``failure_report()``)."""
    report = yield
    if report.when == "call" and report.failed:
        for name, value in getattr(item, "funcargs", {}).items():
            describe = getattr(value, "failure_report", None)
            if callable(describe):
                try:
                    report.sections.append((f"{name}: process and task logs", describe()))
                except Exception as exc:  # a report must never hide the failure it explains
                    report.sections.append((f"{name}: process and task logs", f"unavailable: {exc!r}"))
    return report


# -- test tiers ----------------------------------------------------------------------------------

TIERS = ("unit", "emulator", "deployment")
#: Fixtures that put a test in a tier above ``unit`` when it has no tier mark of its own.
TIER_OF_FIXTURE = {"airflow_db": "emulator", "deployment": "deployment", "deployments": "deployment"}


def tier_of(item: pytest.Item) -> str:
    """
    The test's own (or its module's) tier mark, else the highest tier its fixtures imply; a test
    marked ``slow`` (it waits on the clock) is never ``unit``, whose whole run must stay short.
    """
    for mark in item.iter_markers():  # the closest first: the test's, its class's, its module's
        if mark.name in TIERS:
            return mark.name
    implied = {TIER_OF_FIXTURE[name] for name in getattr(item, "fixturenames", ()) if name in TIER_OF_FIXTURE}
    if item.get_closest_marker("slow") is not None:
        implied.add("emulator")
    return max(implied, key=TIERS.index, default="unit")


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by mark
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every test exactly one tier mark: an explicit mark wins over the automatic one."""
    for item in items:
        tier = tier_of(item)
        if item.get_closest_marker(tier) is None:
            item.add_marker(tier)


@pytest.fixture(autouse=True)
def unit_tier_guard(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """
    Hold a ``unit`` test to the tier's promise: no subprocess, no Airflow database, no socket but
    loopback. A breach raises where it happens and fails the test even if the code caught it.
    """
    if request.node.get_closest_marker("unit") is None:
        yield
        return
    from tests.support import UnitTierGuard

    guard = UnitTierGuard(monkeypatch)
    guard.install()
    try:
        yield
    finally:
        guard.uninstall()
    if guard.breaches:
        pytest.fail(
            "a unit test must not " + "; ".join(guard.breaches) + ": mark it emulator or deployment (docs/testing.md)",
            pytrace=False,
        )
