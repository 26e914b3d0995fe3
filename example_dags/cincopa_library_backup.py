"""
Back the Cincopa library up to a bucket every night, incrementally; restore it from there.

- ``cincopa_library_backup`` (nightly): every asset's original and its metadata to
  ``<CINCOPA_BACKUP_URI><rid>/<filename>`` and ``manifest.jsonl``. Only new or changed assets
  are downloaded: an unchanged library costs no CDN byte, and a killed run, retried, does not
  download again what it finished.
- ``cincopa_library_restore`` (by hand): upload what the manifest lists and Cincopa no longer
  has, with its caption, descriptions, tags and reference id. Run it twice: nothing moves the
  second time.
- ``cincopa_download_rendition`` (by hand): one asset's best MP4 (else its original) handed to
  the next job, e.g. a transcription service reading the bucket.

``CINCOPA_BACKUP_URI`` is any folder Airflow's object storage writes (``s3://bucket/prefix/``,
``gs://...``, ``file:///...``), ``CINCOPA_BACKUP_CONN_ID`` the connection it writes with.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task

from airflow_provider_cincopa.operators.export import (
    CincopaDownloadAssetOperator,
    CincopaExportAssetsOperator,
    CincopaRestoreAssetsOperator,
)

BACKUP_URI = os.environ.get("CINCOPA_BACKUP_URI", "s3://media-backup/cincopa/")
BACKUP_CONN_ID = os.environ.get("CINCOPA_BACKUP_CONN_ID", "aws_default")

with DAG(
    dag_id="cincopa_library_backup",
    description="Nightly incremental backup of the Cincopa library to a bucket",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # two exports writing one manifest at once would each miss the other's work
    default_args={"retries": 3, "retry_delay": timedelta(minutes=5)},
    tags=["cincopa", "example"],
):
    export = CincopaExportAssetsOperator(
        task_id="export_library",
        destination_path=BACKUP_URI,
        destination_conn_id=BACKUP_CONN_ID,
        versions="original",
        max_parallel_downloads=4,
    )

    @task
    def report(result: dict) -> None:
        """One line for the on-call: what tonight's backup moved."""
        print(f"Backed up {result['exported']} assets ({result['bytes']} bytes), {result['skipped']} unchanged")

    report(export.output)

with DAG(
    dag_id="cincopa_library_restore",
    description="Restore the Cincopa library from the backup's manifest",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cincopa", "example"],
):
    CincopaRestoreAssetsOperator(
        task_id="restore_library",
        manifest_path=f"{BACKUP_URI}manifest.jsonl",
        source_conn_id=BACKUP_CONN_ID,
    )

with DAG(
    dag_id="cincopa_download_rendition",
    description="Hand one asset's best MP4 to the next job",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cincopa", "example"],
    params={"rid": Param("", type="string", description="The asset to download")},
):
    CincopaDownloadAssetOperator(
        task_id="download_rendition",
        rid="{{ params.rid }}",
        version=["mp4_hd", "original"],  # the first the asset has; HLS (ts_*) versions are refused
        destination_path=f"{BACKUP_URI}renditions/{{{{ params.rid }}}}/",
        destination_conn_id=BACKUP_CONN_ID,
        if_exists="skip",  # already there at the expected size: not a single CDN request
    )
