"""
A local Cincopa emulator: the REST API v2 and the upload host on loopback, for DAGs and tests.

Start it with ``cincopa-emulator --port 0 --token T`` (or ``python -m
airflow_provider_cincopa.emulator``); it prints the address it listens on. In-process:
``with EmulatorServer("T") as emu: ... emu.base_url``. It does not import Airflow.

Modules: ``state`` / ``models`` (what it keeps), ``app`` / ``middleware`` (routes, request log,
fault knobs), ``api*`` (the methods), ``uploads`` (the upload host), ``url_import``,
``webhooks``, ``faults``, ``server`` (uvicorn in a thread), ``testing`` (the CLI as a subprocess).
"""

from __future__ import annotations

from airflow_provider_cincopa.emulator.server import EmulatorServer

__all__ = ["EmulatorServer"]
