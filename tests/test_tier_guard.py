"""
The unit tier's guard (tests/support.py ``UnitTierGuard``) stops what a unit test must not do:
start a process, use Airflow's database, connect beyond loopback. Each test here breaks that
promise on purpose, under a guard of its own, so the module runs in the emulator tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.support import UnitTierBreach, UnitTierGuard

pytestmark = pytest.mark.emulator


@pytest.fixture
def guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[UnitTierGuard]:
    installed = UnitTierGuard(monkeypatch)
    installed.install()
    yield installed
    installed.uninstall()


def test_a_subprocess_is_refused_and_recorded_even_when_the_code_swallows_the_error(guard):
    with contextlib.suppress(Exception):  # what careless code under test might do
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    assert len(guard.breaches) == 1 and guard.breaches[0].startswith("start a process: [")


def test_os_system_and_asyncio_subprocesses_are_refused(guard):
    with pytest.raises(UnitTierBreach, match=r"os\.system"):
        os.system("true")

    async def spawn() -> None:
        await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")

    with pytest.raises(UnitTierBreach, match="start a process"):
        asyncio.run(spawn())


def test_a_sqlalchemy_connection_is_refused_naming_the_database(guard):
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite:///:memory:")
    with pytest.raises(UnitTierBreach, match=r"use Airflow's database \(sqlite:///"), engine.connect() as conn:
        conn.execute(text("select 1"))
    engine.dispose()


def test_a_connection_beyond_loopback_is_refused_before_any_packet_is_sent(guard):
    with socket.socket() as sock, pytest.raises(UnitTierBreach, match=r"connect beyond loopback: 192\.0\.2\.1"):
        sock.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed


def test_a_loopback_server_in_this_process_is_allowed(guard):
    with socket.socket() as server, socket.socket() as client:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        client.connect(server.getsockname())
    assert guard.breaches == []


def test_uninstalled_the_guard_lets_the_database_be_used_again(monkeypatch):
    from sqlalchemy import create_engine, text

    guard = UnitTierGuard(monkeypatch)
    guard.install()
    guard.uninstall()
    engine = create_engine("sqlite:///:memory:")
    with engine.connect() as conn:
        assert conn.execute(text("select 1")).scalar() == 1
    engine.dispose()
