"""
The event-driven example DAG (example_dags/cincopa_on_new_asset.py) in a real deployment
(tests/deployment.py: api-server, scheduler, dag-processor, triggerer): the triggerer runs
CincopaAssetEventTrigger in an AssetWatcher against the emulator, each new tagged asset becomes
one asset event and a DAG run that marks it seen. The triggerer is SIGKILLed and restarted with
an asset made while it was down: that one fires once after the restart, none fires twice, and an
asset there before the watcher started never fires. Everything read from Airflow goes through
its REST API.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from tests.conftest import TOKEN
from tests.deployment import Deployment
from tests.support import airflow_version

pytestmark = [pytest.mark.deployment, pytest.mark.timeout(900)]

DAG_ID = "cincopa_on_new_asset"
EXAMPLE = Path(__file__).parent.parent / "example_dags" / f"{DAG_ID}.py"
TAG = "inbox-deploy"
POLL = 2  # seconds between the watcher's polls


def watcher_events(deployment: Deployment) -> list[dict[str, Any]]:
    """The asset events the watcher made (REST), oldest first."""
    events = deployment.api("GET", "/api/v2/assets/events", params={"limit": 100})["asset_events"]
    return sorted((e for e in events if (e.get("extra") or {}).get("from_trigger")), key=lambda e: e["id"])


def fired_rids(deployment: Deployment) -> list[str]:
    return [e["extra"]["payload"]["rid"] for e in watcher_events(deployment)]


def dag_runs(deployment: Deployment) -> list[dict[str, Any]]:
    return deployment.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]


def add_tagged_asset(folder: Path, name: str) -> str:
    """Upload a file and tag it (two calls, as the upload operator does)."""
    hook = CincopaHook()
    path = folder / name
    path.write_bytes(name.encode() * 50)
    rid = hook.upload_file(str(path)).rid
    hook.set_meta(rid, tags=f"{TAG},other")
    hook.close()
    return rid


def seen(emulator: Any, rid: str) -> bool:
    """The DAG run marked the asset: the watched tag gave way to airflow-seen, a description was set."""
    [asset] = [a for a in emulator.assets() if a["rid"] == rid]
    return asset["tags"] == "other,airflow-seen" and asset["description"].startswith("Picked up by Airflow")


def test_each_new_asset_runs_the_example_dag_once_across_a_triggerer_sigkill(emulator, tmp_path):
    keeps_cursor = airflow_version() >= (3, 3)  # asset_state_store
    existing = add_tagged_asset(tmp_path, "existing.mp4")
    deployment = Deployment(
        tmp_path / "home",
        dags={f"{DAG_ID}.py": EXAMPLE.read_text()},
        connections={"cincopa_default": emulator.connection_json()},
        env={"CINCOPA_EXAMPLE_WATCH_TAG": TAG, "CINCOPA_EXAMPLE_POLL_INTERVAL": str(POLL)},
    )
    with deployment:

        def polls() -> int:
            return len(emulator.requests("/v2/asset.list"))

        deployment.wait(lambda: polls() >= 2, 120, "the watcher's first polls")
        made: list[str] = []

        def fire(name: str) -> str:
            rid = add_tagged_asset(tmp_path, name)
            made.append(rid)
            deployment.wait(lambda: rid in fired_rids(deployment), 120, f"the asset event of {name}")
            deployment.wait(lambda: seen(emulator, rid), 180, f"the DAG run that marks {name} seen")
            return rid

        fire("first.mp4")
        fire("second.mp4")

        deployment.kill_component("triggerer", signal.SIGKILL)
        down = add_tagged_asset(tmp_path, "while-down.mp4")
        polls_at_restart = polls()
        deployment.start_component("triggerer")
        if keeps_cursor:
            made.append(down)
            deployment.wait(lambda: down in fired_rids(deployment), 180, "the asset made while the triggerer was down")
            deployment.wait(lambda: seen(emulator, down), 180, "the DAG run for the asset made while down")
        else:
            # Before 3.3 the cursor was in the dead triggerer's memory: the new one starts from
            # what is there now (docs/events.md says so).
            deployment.wait(lambda: polls() >= polls_at_restart + 2, 180, "the new triggerer's first polls")
        assert polls() > polls_at_restart, "the new triggerer polls"

        fire("after-restart.mp4")
        # A few more polls of the restarted watcher: nothing more may fire.
        settled = polls()
        deployment.wait(lambda: polls() >= settled + 3, 60, "three more polls")
        deployment.wait(
            lambda: all(r["state"] in ("success", "failed") for r in dag_runs(deployment)), 180, "runs to finish"
        )

        rids = fired_rids(deployment)
        assert Counter(rids) == Counter(made), f"each new asset fires exactly once: {rids} vs {made}"
        assert existing not in rids, "an asset there before the watcher started never fires"
        runs = dag_runs(deployment)
        assert runs and all(r["state"] == "success" for r in runs), runs
        # Every event started a run (several close together may share one).
        assert all(e["created_dagruns"] for e in watcher_events(deployment))
        assert not seen(emulator, existing)
        assert keeps_cursor or not seen(emulator, down)
        payload = watcher_events(deployment)[0]["extra"]["payload"]
        assert payload["uri"] == f"cincopa://asset/{payload['rid']}" and payload["filename"] == "first.mp4"
        if keeps_cursor:
            # Polls go through the shared stream, unfiltered (the watcher applies its own tag); the
            # one request with the tag is the restarted watcher catching up from its cursor.
            listed = [r["query"] for r in emulator.requests("/v2/asset.list")]
            assert [q.get("tag") for q in listed if "tag" in q] == [TAG], "one catch-up, after the restart"
            assert len(listed) > 10
    leaks = [str(p) for p in deployment.files_containing(TOKEN)]
    assert not leaks, f"the api_token leaked into {leaks}"
    assert not deployment.strays(), "processes left behind"
