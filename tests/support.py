"""Helpers for the tests: the emulator's inspection API and running DAG files with ``dag.test()``."""

from __future__ import annotations

import hashlib
import json
import os
import textwrap
from pathlib import Path
from typing import Any

import httpx


class Emulator:
    """Read the emulator's state and set its fault knobs (its ``/_emulator`` endpoints)."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.root = base_url.split("/v2/")[0]

    def connection_json(self, **extra: Any) -> str:
        conn: dict[str, Any] = {"conn_type": "cincopa", "password": self.token, "host": self.base_url}
        conn["extra"] = {"retries": 3, "retry_deadline": 30, "timeout": 10, **extra}
        return json.dumps(conn)

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.root}/_emulator/state", timeout=30).raise_for_status().json()

    def assets(self) -> list[dict[str, Any]]:
        return self.state()["assets"]

    def requests(self, path_prefix: str = "") -> list[dict[str, Any]]:
        return [r for r in self.state()["requests"] if r["path"].startswith(path_prefix)]

    def reset(self) -> None:
        httpx.post(f"{self.root}/_emulator/reset", timeout=30).raise_for_status()

    def faults(self, **knobs: Any) -> None:
        httpx.post(f"{self.root}/_emulator/faults", json=knobs, timeout=30).raise_for_status()

    def clear_faults(self) -> None:
        httpx.delete(f"{self.root}/_emulator/faults", timeout=30).raise_for_status()


def make_file(path: Path, size: int, seed: int = 1) -> str:
    """Write ``size`` pseudo-random bytes to ``path`` block by block; return their sha256."""
    digest = hashlib.sha256()
    block = hashlib.sha256(str(seed).encode()).digest() * 32768  # 1 MiB pattern
    with open(path, "wb") as f:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            # Vary each block so chunks cannot be confused with one another.
            piece = (left.to_bytes(8, "big") + piece)[: len(piece)]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def run_dag(dags_folder: Path, dag_id: str, source: str, **test_kwargs: Any) -> Any:
    """
    Write ``source`` as a DAG file into the dags folder (``dag.test()`` only runs DAGs a bundle
    holds), parse it, run it, and return the DagRun. The caller asserts on its state.
    """
    from airflow.dag_processing.dagbag import DagBag

    path = dags_folder / f"{dag_id}.py"
    path.write_text(textwrap.dedent(source))
    bag = DagBag(dag_folder=str(path))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"{dag_id} not found in {path}"
    return dag.test(**test_kwargs)


def task_states(dag_run: Any) -> dict[str, str]:
    """``{task_id or task_id[map_index]: state}`` of a finished run."""
    return {
        (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
        for ti in dag_run.get_task_instances()
    }


def xcom(dag_run: Any, task_id: str, map_index: int = -1) -> Any:
    """The return value a task pushed in ``dag_run``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(
                dag_id=dag_run.dag_id, run_id=dag_run.run_id, task_id=task_id, key="return_value", map_index=map_index
            )
            .one()
        )
        return row.value  # a JSON column: already decoded


def env_without(*names: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in names}


def secrets_seen_by(emulator: Emulator, *known: str) -> set[str]:
    """Every secret the emulator handed out or received since its last reset, plus ``known``."""
    found = {emulator.token, *known}
    for request in emulator.state()["requests"]:
        query = request["query"]
        for key in ("api_token", "hash", "security_key"):
            if query.get(key):
                found.add(query[key])
    return {s for s in found if len(s) >= 5}
