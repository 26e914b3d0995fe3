"""
Delete what the example DAGs created: every asset tagged ``airflow-example`` and the example
webhook. Safe to run twice: what is already gone is skipped.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Param, task

from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.operators.cincopa import CincopaDeleteAssetOperator, CincopaDeleteWebhookOperator

with DAG(
    dag_id="cincopa_cleanup",
    description="Delete the assets and webhooks the Cincopa example DAGs created",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["cincopa", "example"],
    params={
        "tag": Param("airflow-example", type="string"),
        "webhook_url": Param(
            os.environ.get("CINCOPA_EXAMPLE_WEBHOOK_URL", "http://127.0.0.1:9/cincopa-webhook"), type="string"
        ),
    },
) as dag:

    @task
    def find_assets(params: dict | None = None) -> list[str]:
        """The rids of every asset carrying the example tag."""
        rids = [asset["rid"] for asset in CincopaHook().list_assets(tag=params["tag"])]
        print(f"{len(rids)} assets tagged {params['tag']!r}: {rids}")
        return rids

    CincopaDeleteAssetOperator.partial(task_id="delete_asset", missing_ok=True).expand(rid=find_assets())
    CincopaDeleteWebhookOperator(task_id="delete_webhook", hook_url="{{ params.webhook_url }}", missing_ok=True)
