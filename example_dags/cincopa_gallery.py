"""
Build a Cincopa gallery (a player's playlist): create it (or reuse the one of that name), upload a
video straight into it, add every asset with a tag, take retired ones out, and report its contents.

Run it against the local emulator with ``bash scripts/run-example`` (see the README), after
tagging an asset or two with ``featured``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator
from airflow_provider_cincopa.operators.galleries import (
    CincopaAddToGalleryOperator,
    CincopaCreateGalleryOperator,
    CincopaRemoveFromGalleryOperator,
)

with DAG(
    dag_id="cincopa_gallery",
    description="Create a Cincopa gallery, upload into it, add tagged assets, report its contents",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cincopa", "example"],
    default_args={"retries": 2, "retry_delay": timedelta(seconds=10)},
    params={
        "gallery_name": Param("Airflow showcase", type="string"),
        "video_path": Param(os.environ.get("CINCOPA_EXAMPLE_VIDEO", "/tmp/cincopa-sample.mp4"), type="string"),
        "feature_tag": Param("featured", type="string"),
        "retire_tag": Param("retired", type="string"),
    },
) as dag:
    # if_exists="reuse" (the default): a rerun, or a retry after a lost answer, uses the same gallery.
    gallery = CincopaCreateGalleryOperator(
        task_id="gallery",
        name="{{ params.gallery_name }}",
        description="Assembled by Airflow DAG {{ dag.dag_id }}",
    )

    # The upload lands in the gallery as it is created (asset.get_upload_url with the gallery's fid).
    upload_video = CincopaUploadFileOperator(
        task_id="upload_video",
        source_path="{{ params.video_path }}",
        gallery_fid=gallery.output,
        caption="Showcase video",
        tags=["airflow-example", "gallery"],
    )

    # A short circuit: no asset with the tag skips only the task that adds or removes them.
    @task.short_circuit(ignore_downstream_trigger_rules=False, trigger_rule="none_failed")
    def tagged(tag: str) -> list[str]:
        """The rids of every asset carrying ``tag``, in Cincopa's order."""
        return [asset["rid"] for asset in CincopaHook().list_assets(tag=tag)]

    featured = tagged.override(task_id="featured_assets")("{{ params.feature_tag }}")
    add_featured = CincopaAddToGalleryOperator(task_id="add_featured", gallery_fid=gallery.output, rids=featured)

    retired = tagged.override(task_id="retired_assets")("{{ params.retire_tag }}")
    remove_retired = CincopaRemoveFromGalleryOperator(
        task_id="remove_retired", gallery_fid=gallery.output, rids=retired
    )

    @task(trigger_rule="none_failed")
    def report(fid: str) -> dict:
        """Print the gallery's contents in order; hand the fid and rids on through XCom."""
        items = list(CincopaHook().get_gallery_items(fid))
        print(f"Cincopa gallery fid={fid} holds {len(items)} asset(s):")
        for item in items:
            print(f"  {item['rid']} {item['filename']!r} caption={item['caption']!r}")
        return {"fid": fid, "rids": [item["rid"] for item in items]}

    # Retired assets are looked up after the featured ones went in: an asset with both tags stays out.
    upload_video >> add_featured >> retired
    remove_retired >> report(gallery.output)
