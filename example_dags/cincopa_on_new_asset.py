"""
Event-driven: run whenever new media tagged ``airflow-inbox`` lands in Cincopa (uploaded from the
dashboard, an upload iframe, a partner's integration or another DAG), then mark each new asset as
seen: the ``airflow-inbox`` tag makes way for ``airflow-seen`` and a description is set.

The Asset below is watched by ``CincopaAssetEventTrigger`` in the triggerer (an ``AssetWatcher``):
each new matching asset is one asset event, its payload the asset as ``asset.list`` returns it.
Several assets arriving close together may start one run with several events, so the run
handles every event it was triggered by. Retagging the asset does not fire it again: the
trigger fires each asset once, when it is new.

``CINCOPA_EXAMPLE_WATCH_TAG`` and ``CINCOPA_EXAMPLE_POLL_INTERVAL`` (seconds) change what is
watched and how often, where the DAG file is parsed.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from airflow.sdk import DAG, Asset, AssetWatcher, task

from airflow_provider_cincopa.operators.cincopa import CincopaSetAssetMetaOperator
from airflow_provider_cincopa.triggers.cincopa import CincopaAssetEventTrigger

WATCH_TAG = os.environ.get("CINCOPA_EXAMPLE_WATCH_TAG", "airflow-inbox")
SEEN_TAG = "airflow-seen"

new_media = Asset(
    "cincopa_new_media",
    watchers=[
        AssetWatcher(
            name="cincopa_new_media_watcher",
            trigger=CincopaAssetEventTrigger(
                tag=WATCH_TAG,
                poll_interval=float(os.environ.get("CINCOPA_EXAMPLE_POLL_INTERVAL", "60")),
            ),
        )
    ],
)

with DAG(
    dag_id="cincopa_on_new_asset",
    description=f"Mark each new Cincopa asset tagged {WATCH_TAG!r} as seen",
    schedule=[new_media],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cincopa", "example"],
):

    @task
    def new_assets(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One ``asset.set_meta`` call's arguments per new asset this run was triggered by."""
        calls = []
        for event in triggering_asset_events[new_media]:
            asset = event.extra["payload"]
            tags = [t.strip() for t in str(asset.get("tags") or "").split(",") if t.strip()]
            print(f"New Cincopa asset {asset['rid']} ({asset.get('filename')}), tags {tags}")
            calls.append(
                {
                    "rid": asset["rid"],
                    "tags": [t for t in tags if t != WATCH_TAG] + [SEEN_TAG],
                    "description": f"Picked up by Airflow ({asset.get('type')}, {asset.get('filesize')} bytes)",
                }
            )
        return calls

    CincopaSetAssetMetaOperator.partial(task_id="mark_seen").expand_kwargs(new_assets())
