"""
Upload every video in a folder or bucket, one mapped task per file (dynamic task mapping).

``source_folder`` is anything Airflow's object storage lists: ``file:///data/videos``,
``s3://bucket/incoming`` (with ``source_conn_id``), ...
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, ObjectStoragePath, Param, task

from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi"}

with DAG(
    dag_id="cincopa_bulk_ingest",
    description="Upload every video of a folder or bucket to Cincopa",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cincopa", "example"],
    params={
        "source_folder": Param(os.environ.get("CINCOPA_EXAMPLE_FOLDER", "file:///tmp/cincopa-videos"), type="string"),
    },
) as dag:

    @task
    def list_videos(params: dict | None = None) -> list[dict[str, str]]:
        """Every video file directly in the folder: the URL the upload operator reads, and its reference_id."""
        folder = ObjectStoragePath(params["source_folder"])
        videos = sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        print(f"{len(videos)} videos to upload from {folder}")
        # The file's URL is its reference_id: running the DAG again uploads only new files.
        return [{"source_path": video, "reference_id": video} for video in videos]

    CincopaUploadFileOperator.partial(
        task_id="upload_video",
        tags=["airflow-example", "bulk"],
        max_parallel_chunks=2,
        if_exists="skip",
        map_index_template="{{ task.source_path.rsplit('/', 1)[-1] }}",
    ).expand_kwargs(list_videos())
