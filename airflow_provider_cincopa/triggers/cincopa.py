"""Trigger that waits for an ``asset.upload_from_url`` import in the triggerer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, cast

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_cincopa.exceptions import CincopaError
from airflow_provider_cincopa.hooks._transport import TransientError
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.redaction import redact

#: Consecutive network failures tolerated before the trigger gives up with an error event.
MAX_TRANSIENT_FAILURES = 10


class CincopaUploadStatusTrigger(BaseTrigger):
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
        (triggers/_end_from_trigger.py). ``status_id`` may then be a template, which the
        triggerer renders before ``run``; with ``end_time`` None the sensor's timeout comes from
        the trigger timeout the scheduler set.
    :param soft_fail: with ``end_from_trigger``, skip the task instead of failing it.
    """

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
        super().__init__()
        self.abort_on_kill = abort_on_kill
        self.end_from_trigger = end_from_trigger
        self.soft_fail = soft_fail
        self.status_id = status_id
        self.cincopa_conn_id = cincopa_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs: ids, connection id and times only."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "status_id": self.status_id,
                "cincopa_conn_id": self.cincopa_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "abort_on_kill": self.abort_on_kill,
                **({"end_from_trigger": True, "soft_fail": self.soft_fail} if self.end_from_trigger else {}),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a terminal state or ``end_time``, then yield one event."""
        if self.end_from_trigger:
            async for event in self._run_and_end_task():
                yield event
            return
        hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
        try:
            async for event in self._poll(hook):
                yield event
                return
        finally:
            await hook.aclose()

    async def _run_and_end_task(self) -> AsyncIterator[TriggerEvent]:
        """``run`` for ``end_from_trigger``: the same wait, ended here (rendered ``status_id`` checked first)."""
        from airflow_provider_cincopa.triggers._end_from_trigger import deadline, end_task

        self.status_id = str(self.status_id).strip()  # the triggerer has rendered it by now
        if self.end_time is None:
            self.end_time = deadline(self)
        if self.status_id in ("", "None"):
            event = self._event("error", f"status_id rendered to {self.status_id!r}: did the upstream task push one?")
        else:
            hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
            events = cast("AsyncGenerator[TriggerEvent, None]", self._poll(hook))
            try:
                event = await events.__anext__()  # _poll yields exactly one event
            finally:
                await events.aclose()
                await hook.aclose()
        yield await end_task(self, event, soft_fail=self.soft_fail)

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

    async def _poll(self, hook: CincopaHook) -> AsyncIterator[TriggerEvent]:
        failures = 0
        while True:
            try:
                status = await hook.aget_upload_from_url_status(self.status_id)
                failures = 0
            except TransientError as exc:
                failures += 1
                if failures > MAX_TRANSIENT_FAILURES:
                    yield self._event("error", f"Cincopa could not be reached {failures} times in a row: {exc}")
                    return
                self.log.warning("Status call for import %s failed, will retry: %s", self.status_id, exc)
            except CincopaError as exc:
                yield self._event("error", str(exc))
                return
            except Exception as exc:  # the event must still come, and without secrets
                yield self._event("error", f"{type(exc).__name__}: {redact(exc)}")
                return
            else:
                if status.state == "done":
                    yield self._event("success", f"Import {self.status_id} created asset {status.rid}", status.rid)
                    return
                if status.state == "failed":
                    yield self._event("failed", f"Cincopa import {self.status_id} failed: {redact(status.message)}")
                    return
                self.log.info(
                    "Import %s still running: %s%% (%s of %s bytes)",
                    self.status_id,
                    status.progress,
                    status.bytes_done,
                    status.total_bytes,
                )
            if self.end_time is not None and time.time() >= self.end_time:
                yield self._event("timeout", f"Import {self.status_id} did not finish before the timeout")
                return
            await asyncio.sleep(self.poll_interval)

    def _event(self, status: str, message: str, rid: str | None = None) -> TriggerEvent:
        return TriggerEvent({"status": status, "message": message, "status_id": self.status_id, "rid": rid})


# The asset watcher's trigger lives in its own module; importable from here too.
from airflow_provider_cincopa.triggers.events import CincopaAssetEventTrigger  # noqa: E402

__all__ = ["CincopaAssetEventTrigger", "CincopaUploadStatusTrigger"]
class CincopaAssetSyncedTrigger(BaseTrigger):
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
        ``start_from_trigger``, triggers/_end_from_trigger.py); ``rid`` may then be a template,
        which the triggerer renders; the task's XCom is the asset.
    :param soft_fail: with ``end_from_trigger``, skip the task instead of failing it.
    """

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
        super().__init__()
        self.end_from_trigger = end_from_trigger
        self.soft_fail = soft_fail
        self.rid = rid
        self.cincopa_conn_id = cincopa_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs: the rid, connection id and times only."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "rid": self.rid,
                "cincopa_conn_id": self.cincopa_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                **({"end_from_trigger": True, "soft_fail": self.soft_fail} if self.end_from_trigger else {}),
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until the asset is synced, failed or gone, or until ``end_time``; yield one event."""
        if self.end_from_trigger:
            from airflow_provider_cincopa.triggers._end_from_trigger import deadline, end_task

            self.rid = str(self.rid).strip()  # the triggerer has rendered it by now
            if self.end_time is None:
                self.end_time = deadline(self)
            if self.rid in ("", "None"):
                event = TriggerEvent(
                    {"status": "error", "message": f"rid rendered to {self.rid!r}: did the upstream task push one?"}
                )
            else:
                hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
                events = cast("AsyncGenerator[TriggerEvent, None]", self._poll(hook))
                try:
                    event = await events.__anext__()  # _poll yields exactly one event
                finally:
                    await events.aclose()
                    await hook.aclose()
            yield await end_task(self, event, soft_fail=self.soft_fail, xcom_value_key="asset")
            return
        hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
        try:
            async for event in self._poll(hook):
                yield event
                return
        finally:
            await hook.aclose()

    async def _poll(self, hook: CincopaHook) -> AsyncIterator[TriggerEvent]:
        failures = 0
        while True:
            try:
                status = await hook.aget_asset_sync_status(self.rid)
                failures = 0
            except TransientError as exc:
                failures += 1
                if failures > MAX_TRANSIENT_FAILURES:
                    yield self._event("error", f"Cincopa could not be reached {failures} times in a row: {exc}")
                    return
                self.log.warning("asset.list for asset %s failed, will retry: %s", self.rid, exc)
            except CincopaError as exc:
                yield self._event("error", str(exc))
                return
            except Exception as exc:  # the event must still come, and without secrets
                yield self._event("error", f"{type(exc).__name__}: {redact(exc)}")
                return
            else:
                if status.state == "synced":
                    message = f"Asset {self.rid} is synced: versions {', '.join(status.versions) or 'none listed'}"
                    yield self._event("success", message, status.asset)
                    return
                if status.state in ("failed", "missing"):
                    yield self._event("failed", status.failure_message())
                    return
                self.log.info("%s", status.waiting_message())
            if self.end_time is not None and time.time() >= self.end_time:
                yield self._event("timeout", f"Asset {self.rid} was not synced before the timeout")
                return
            await asyncio.sleep(self.poll_interval)

    def _event(self, status: str, message: str, asset: dict[str, Any] | None = None) -> TriggerEvent:
        return TriggerEvent({"status": status, "message": message, "rid": self.rid, "asset": asset})
