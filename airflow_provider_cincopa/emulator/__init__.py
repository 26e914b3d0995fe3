"""
A local Cincopa emulator: the REST API v2 and the upload host on loopback, for DAGs and tests.

Start it with ``cincopa-emulator --port 0 --token T`` (or ``python -m
airflow_provider_cincopa.emulator``); it prints the address it listens on. It does not import
Airflow. See ``state.py`` for what it keeps and ``app.py`` for the routes.
"""

from __future__ import annotations

from airflow_provider_cincopa.emulator.server import EmulatorServer

__all__ = ["EmulatorServer"]
