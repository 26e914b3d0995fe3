"""Triggers that wait in the triggerer for an ``asset.upload_from_url`` import or an asset's sync."""

from __future__ import annotations

from typing import Any

from airflow.triggers.base import TriggerEvent

from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.redaction import redact

# MAX_TRANSIENT_FAILURES, defined here before the two triggers shared a base, and the asset
# watcher's trigger, which lives in its own module, are importable from here too.
from airflow_provider_cincopa.triggers._polling import MAX_TRANSIENT_FAILURES as MAX_TRANSIENT_FAILURES
from airflow_provider_cincopa.triggers._polling import CincopaPollingTrigger
from airflow_provider_cincopa.triggers.events import CincopaAssetEventTrigger
from airflow_provider_cincopa.types import AssetSyncStatus, UploadFromUrlStatus

# Triggers stored by the triggerer are found again by their class path: these classes stay in
# this module, whatever base they share.


class CincopaUploadStatusTrigger(CincopaPollingTrigger[UploadFromUrlStatus]):
    """
    Poll ``asset.upload_from_url_get_status`` with httpx until the import is done, failed or late.

    Serialises only ids, the connection id and times: the token is read from the connection in
    the triggerer. Yields exactly one event ``{"status", "message", "status_id", "rid"}`` where
    ``status`` is ``success``, ``failed``, ``timeout`` or ``error``.

    :param status_id: the import to wait for.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    :param poll_interval: seconds between two status calls.
    :param end_time: epoch seconds after which the trigger answers ``timeout``; None waits forever.
    :param abort_on_kill: abort the remote import when a user kills the deferred task (the
        operator that started the import owns it; a sensor that only watches it does not).
    :param end_from_trigger: end the task here instead of resuming it on a worker (the sensor's
        ``start_from_trigger``): the rid becomes the task's XCom and the event a task end event
        (_trigger_handoff/end.py). ``status_id`` may then be a template, which the
        triggerer renders before ``run``; with ``end_time`` None the sensor's timeout comes from
        the trigger timeout the scheduler set.
    :param soft_fail: with ``end_from_trigger``, skip the task instead of failing it.
    """

    id_field = "status_id"
    xcom_value_key = "rid"
    retry_warning = "Status call for import %s failed, will retry: %s"
    timeout_message = "Import {} did not finish before the timeout"

    def __init__(
        self,
        *,
        status_id: str,
        cincopa_conn_id: str = CincopaHook.default_conn_name,
        poll_interval: float = 15.0,
        end_time: float | None = None,
        abort_on_kill: bool = False,
        end_from_trigger: bool = False,
        soft_fail: bool = False,
    ) -> None:
        super().__init__(
            cincopa_conn_id=cincopa_conn_id,
            poll_interval=poll_interval,
            end_time=end_time,
            end_from_trigger=end_from_trigger,
            soft_fail=soft_fail,
        )
        self.abort_on_kill = abort_on_kill
        self.status_id = status_id

    def _own_kwargs(self) -> dict[str, Any]:
        return {"abort_on_kill": self.abort_on_kill}

    async def on_kill(self) -> None:
        """A user killed the deferred task: abort the import it started, if it owns it."""
        if not self.abort_on_kill:
            return
        hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
        try:
            await hook.aabort_upload_from_url(self.status_id)
            self.log.info("Aborted Cincopa import %s", self.status_id)
        finally:
            await hook.aclose()

    async def _fetch_status(self, hook: CincopaHook) -> UploadFromUrlStatus:
        return await hook.aget_upload_from_url_status(self.status_id)

    def _event_for(self, status: UploadFromUrlStatus) -> TriggerEvent | None:
        if status.state == "done":
            return self._event("success", f"Import {self.status_id} created asset {status.rid}", status.rid)
        if status.state == "failed":
            return self._event("failed", f"Cincopa import {self.status_id} failed: {redact(status.message)}")
        self._log_waiting(
            "Import %s still running: %s%% (%s of %s bytes)",
            self.status_id,
            status.progress,
            status.bytes_done,
            status.total_bytes,
        )
        return None


class CincopaAssetSyncedTrigger(CincopaPollingTrigger[AssetSyncStatus]):
    """
    Poll ``asset.list`` with httpx until the asset's versions are ready, failed, gone, or late.

    Serialises only the rid, the connection id and times: the token is read from the connection
    in the triggerer. Yields exactly one event ``{"status", "message", "rid", "asset"}`` where
    ``status`` is ``success`` (``asset`` is its ``asset.list`` item, versions included),
    ``failed`` (Cincopa reports a failed sync, or the asset is gone), ``timeout`` or ``error``.

    :param rid: the asset to wait for.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    :param poll_interval: seconds between two ``asset.list`` calls.
    :param end_time: epoch seconds after which the trigger answers ``timeout``; None waits forever.
    :param end_from_trigger: end the task here instead of resuming it on a worker (the sensor's
        ``start_from_trigger``, _trigger_handoff/end.py); ``rid`` may then be a template,
        which the triggerer renders; the task's XCom is the asset.
    :param soft_fail: with ``end_from_trigger``, skip the task instead of failing it.
    """

    id_field = "rid"
    xcom_value_key = "asset"
    retry_warning = "asset.list for asset %s failed, will retry: %s"
    timeout_message = "Asset {} was not synced before the timeout"

    def __init__(
        self,
        *,
        rid: str,
        cincopa_conn_id: str = CincopaHook.default_conn_name,
        poll_interval: float = 15.0,
        end_time: float | None = None,
        end_from_trigger: bool = False,
        soft_fail: bool = False,
    ) -> None:
        super().__init__(
            cincopa_conn_id=cincopa_conn_id,
            poll_interval=poll_interval,
            end_time=end_time,
            end_from_trigger=end_from_trigger,
            soft_fail=soft_fail,
        )
        self.rid = rid

    async def _fetch_status(self, hook: CincopaHook) -> AssetSyncStatus:
        return await hook.aget_asset_sync_status(self.rid)

    def _event_for(self, status: AssetSyncStatus) -> TriggerEvent | None:
        if status.state == "synced":
            message = f"Asset {self.rid} is synced: versions {', '.join(status.versions) or 'none listed'}"
            return self._event("success", message, status.asset)
        if status.state in ("failed", "missing"):
            return self._event("failed", status.failure_message())
        self._log_waiting("%s", status.waiting_message())
        return None


__all__ = ["CincopaAssetEventTrigger", "CincopaAssetSyncedTrigger", "CincopaUploadStatusTrigger"]
