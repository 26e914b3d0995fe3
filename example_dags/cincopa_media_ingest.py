"""
Ingest one local video into Cincopa: register a webhook, upload the file in parallel chunks, set
its metadata, wait (deferred, in the triggerer) until Cincopa has made its versions, get its
playback links (HLS manifest, direct version URLs), then print what Cincopa now holds; the
report task takes the asset and the links through XCom, as a publishing task would.

Run it against the local emulator with ``bash scripts/run-example`` (see the README).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Asset, Param, task

from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.operators.cincopa import (
    CincopaSetAssetMetaOperator,
    CincopaSetWebhookOperator,
    CincopaUploadFileOperator,
)
from airflow_provider_cincopa.operators.playback import CincopaGetPlaybackLinksOperator
from airflow_provider_cincopa.sensors.cincopa import CincopaAssetSyncedSensor

#: Downstream DAGs can be scheduled on new media; each event's extra carries the new rid.
CINCOPA_NEW_MEDIA = Asset("cincopa_new_media")

with DAG(
    dag_id="cincopa_media_ingest",
    description="Upload a local video to Cincopa in chunks, tag it, and report",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cincopa", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "video_path": Param(os.environ.get("CINCOPA_EXAMPLE_VIDEO", "/tmp/cincopa-sample.mp4"), type="string"),
        "webhook_url": Param(
            os.environ.get("CINCOPA_EXAMPLE_WEBHOOK_URL", "http://127.0.0.1:9/cincopa-webhook"), type="string"
        ),
    },
) as dag:
    register_webhook = CincopaSetWebhookOperator(
        task_id="register_webhook",
        hook_url="{{ params.webhook_url }}",
        events=["asset.*"],
        # Kept in an Airflow Variable in real deployments; it is masked in logs and rendered fields.
        security_key="{{ var.value.get('cincopa_webhook_security_key', 'example-security-key') }}",
    )

    upload_video = CincopaUploadFileOperator(
        task_id="upload_video",
        source_path="{{ params.video_path }}",
        chunk_size=8 * 1024 * 1024,
        max_parallel_chunks=4,
        caption="Sample video",
        tags=["airflow-example", "ingest"],
        # The CMS's id for this video: a second run finds the asset the first one made and sends
        # nothing (if_exists="skip"); without it every run would make another asset.
        reference_id="cms-sample-video",
        if_exists="skip",
        outlets=[CINCOPA_NEW_MEDIA],
    )

    set_metadata = CincopaSetAssetMetaOperator(
        task_id="set_metadata",
        rid=upload_video.output,
        description="Ingested by Airflow run {{ run_id }}",
    )

    # The video plays once Cincopa has made its versions; wait for them without a worker slot.
    wait_until_synced = CincopaAssetSyncedSensor(
        task_id="wait_until_synced",
        rid=upload_video.output,
        deferrable=True,
        poke_interval=30,
        timeout=2 * 60 * 60,
    )

    playback_links = CincopaGetPlaybackLinksOperator(task_id="playback_links", rid=upload_video.output)

    @task
    def report(asset: dict, links: dict) -> dict:
        """Print what Cincopa holds for the new asset, where to play it, and the webhooks that will hear of it."""
        rid = asset["rid"]
        versions = sorted(asset.get("versions") or {})
        webhooks = CincopaHook().list_webhooks()
        print(f"New Cincopa asset rid={rid} filename={asset['filename']} size={asset.get('filesize')}")
        print(f"  caption={asset['caption']!r} tags={asset['tags']!r} reference_id={asset['reference_id']!r}")
        print(f"  versions: {versions}")
        print(f"  webhooks: {[w['hook_url'] for w in webhooks]}")
        print(f"  HLS manifest: {links['hls_url']}")
        return {
            "rid": rid,
            "filename": asset["filename"],
            "tags": asset["tags"],
            "versions": versions,
            "hls_url": links["hls_url"],
        }

    register_webhook >> upload_video >> set_metadata >> wait_until_synced >> playback_links
    report(wait_until_synced.output, playback_links.output)
