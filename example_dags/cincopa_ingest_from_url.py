"""
Have Cincopa import a video from a URL, wait for it in the triggerer (deferrable sensor), then
tag the new asset.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_provider_cincopa.operators.cincopa import (
    CincopaSetAssetMetaOperator,
    CincopaUploadFromUrlOperator,
)
from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

with DAG(
    dag_id="cincopa_ingest_from_url",
    description="Import a video into Cincopa from a URL, wait for the asset, tag it",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cincopa", "example"],
    params={
        "source_url": Param(
            os.environ.get("CINCOPA_EXAMPLE_SOURCE_URL", "https://example.com/media/intro.mp4"), type="string"
        ),
    },
) as dag:
    start_import = CincopaUploadFromUrlOperator(
        task_id="start_import",
        source_url="{{ params.source_url }}",
        wait_for_completion=False,
        # Already imported (tag_asset set this reference_id)? Then this run skips the import and
        # the waits after it instead of making a second asset.
        reference_id="{{ params.source_url }}",
        if_exists="skip",
    )

    wait_for_asset = CincopaUploadStatusSensor(
        task_id="wait_for_asset",
        status_id=start_import.output,
        deferrable=True,
        poke_interval=2,
        timeout=1800,
    )

    tag_asset = CincopaSetAssetMetaOperator(
        task_id="tag_asset",
        rid=wait_for_asset.output,
        tags="airflow-example,imported",
        description="Imported from {{ params.source_url }}",
        reference_id="{{ params.source_url }}",
    )

    start_import >> wait_for_asset >> tag_asset
