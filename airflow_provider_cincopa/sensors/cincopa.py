"""Sensors that wait for an ``asset.upload_from_url`` import to create its asset, or for an asset's sync."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from airflow_provider_cincopa._compat import AirflowSensorTimeout, conf
from airflow_provider_cincopa._trigger_handoff.start import StartFromTriggerMixin
from airflow_provider_cincopa._trigger_handoff.triggerer_contract import TRIGGER_TIMEOUT_GRACE
from airflow_provider_cincopa.exceptions import (
    CincopaAssetSyncError,
    CincopaImportFailedError,
    CincopaSyncFailedError,
    CincopaUploadFromUrlError,
)
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.links.cincopa import CincopaAssetLink, remember_asset
from airflow_provider_cincopa.operators._retry import use_default_retry_policy
from airflow_provider_cincopa.redaction import redact

if TYPE_CHECKING:
    from airflow.sdk import Context
    from airflow.triggers.base import BaseTrigger


class _CincopaTriggerSensor(StartFromTriggerMixin, BaseSensorOperator):
    """
    What the provider's deferrable sensors share: with ``deferrable``, poke once, then wait in one
    of the provider's triggers (triggers/cincopa.py) and turn its one event into the task's result.

    A sensor sets ``cincopa_conn_id`` and says how to build its trigger (:meth:`_trigger`), what a
    success event returns (:meth:`_result`) and what a ``failed`` or ``error`` event raises
    (:meth:`_error`). ``execute_complete`` also runs when a trigger started by
    ``start_from_trigger`` resumes the task on a worker.
    """

    ui_color = "#e8f0fb"
    operator_extra_links = (CincopaAssetLink(),)

    cincopa_conn_id: str

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        use_default_retry_policy(self, kwargs)

    @cached_property
    def hook(self) -> CincopaHook:
        """The hook, created on first use (never in ``__init__``)."""
        return CincopaHook(cincopa_conn_id=self.cincopa_conn_id)

    def execute(self, context: Context) -> Any:
        """Poke or reschedule as usual; when deferrable, poke once and then defer."""
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)
        if isinstance(first, PokeReturnValue):
            return first.xcom_value
        self.defer(
            trigger=self._trigger(
                cincopa_conn_id=self.cincopa_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
            ),
            method_name="execute_complete",
            # The trigger's own timeout event, with its message, comes before Airflow's.
            timeout=timedelta(seconds=self.timeout + TRIGGER_TIMEOUT_GRACE),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        """Turn the trigger's event into the task's XCom, a failure, or a sensor timeout."""
        if event["status"] == "success":
            return self._result(context, event)
        if event["status"] == "timeout":
            raise AirflowSensorTimeout(event["message"])
        raise self._error(event)

    def _start_trigger_kwargs(self, **waited_for: Any) -> dict[str, Any]:
        """
        The trigger's arguments for ``start_from_trigger``: ``waited_for`` (the id, a template
        field the triggerer renders) and the settings every provider trigger takes.
        """
        return {
            **waited_for,
            "cincopa_conn_id": self.cincopa_conn_id,
            "poll_interval": self.poke_interval,
            "soft_fail": self.soft_fail or getattr(self, "never_fail", False),
        }

    def _trigger(self, **settings: Any) -> BaseTrigger:
        """The trigger a worker defers to, for this sensor's id, with ``settings`` (what every trigger takes)."""
        raise NotImplementedError

    def _result(self, context: Context, event: dict[str, Any]) -> Any:
        """The task's XCom for a ``success`` event."""
        raise NotImplementedError

    def _error(self, event: dict[str, Any]) -> Exception:
        """The exception for a ``failed`` or ``error`` event."""
        raise NotImplementedError


class CincopaUploadStatusSensor(_CincopaTriggerSensor):
    """
    Wait until Cincopa's import ``status_id`` is done and push the new asset's ``rid`` as XCom.

    Works in ``poke`` and ``reschedule`` mode and, with ``deferrable=True``, in the triggerer.
    A failed or aborted import fails the task at once, with Cincopa's reason, and without using
    its retries: watching the same import again cannot change the outcome.

    .. seealso:: :class:`~airflow_provider_cincopa.operators.cincopa.CincopaUploadFromUrlOperator`

    :param status_id: the id ``asset.upload_from_url`` returned. (templated)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param start_from_trigger: (Airflow 3.3+) start in the triggerer, not on a worker: the
        scheduler hands the wait to the triggerer, which renders ``status_id`` and ends the task
        with the rid as its XCom, so no worker process starts. Implies ``deferrable``. Where the
        triggerer could not render ``status_id`` (a template using what it does not serve, an
        ``xcom_pull`` without ``map_indexes``, an XComArg of a mapped task), in a mapped task, and
        on Airflow < 3.3, the sensor starts on a worker and defers from there, saying why.
    """

    template_fields: Sequence[str] = ("status_id",)

    def __init__(
        self,
        *,
        status_id: str,
        cincopa_conn_id: str = CincopaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.status_id = status_id
        self.cincopa_conn_id = cincopa_conn_id
        self.deferrable = deferrable
        self.set_up_start_from_trigger(
            start_from_trigger,
            trigger_cls="airflow_provider_cincopa.triggers.cincopa.CincopaUploadStatusTrigger",
            trigger_kwargs=self._start_trigger_kwargs(status_id=status_id),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One status call: done gives the rid, failed raises, anything else pokes again."""
        status = self.hook.get_upload_from_url_status(str(self.status_id))
        if status.state == "failed":
            raise CincopaImportFailedError(f"Cincopa import {self.status_id} failed: {redact(status.message)}")
        if status.state == "done":
            self.log.info("Import %s created asset %s", self.status_id, status.rid)
            remember_asset(context, status.rid)
            return PokeReturnValue(is_done=True, xcom_value=status.rid)
        self.log.info("Import %s: %s%% done", self.status_id, status.progress)
        return False

    def _trigger(self, **settings: Any) -> BaseTrigger:
        from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger

        return CincopaUploadStatusTrigger(status_id=str(self.status_id), **settings)

    def _result(self, context: Context, event: dict[str, Any]) -> str:
        remember_asset(context, str(event["rid"]))
        return str(event["rid"])

    def _error(self, event: dict[str, Any]) -> Exception:
        if event["status"] == "failed":
            return CincopaImportFailedError(event["message"])
        return CincopaUploadFromUrlError(event["message"])


class CincopaAssetSyncedSensor(_CincopaTriggerSensor):
    """
    Wait until Cincopa has made an asset's versions (``syncstatus`` ``synced`` in ``asset.list``).

    Pushes the asset's ``asset.list`` item as XCom, ``versions`` included (their names, MIME
    types and CDN URLs), so a next task can publish it. Works in ``poke`` and ``reschedule``
    mode and, with ``deferrable=True``, in the triggerer. A failed sync, or an asset that is
    gone (deleted while waiting, or never created), fails the task at once, naming the rid,
    without using its retries: waiting again cannot change the outcome.

    Only ``synced`` is documented; the words read as failed or pending are guesses
    (``airflow_provider_cincopa.types.SYNC_FAILED_STATUSES``), and a value we do not know is
    logged and read as "not ready yet", so it ends in the sensor's timeout rather than a false success.

    .. seealso:: :class:`~airflow_provider_cincopa.operators.cincopa.CincopaUploadFileOperator`

    :param rid: the asset to wait for. (templated)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param start_from_trigger: (Airflow 3.3+) start in the triggerer, not on a worker, and end the
        task there with the asset as its XCom, as
        :class:`CincopaUploadStatusSensor` does; ``rid`` (``upload.output`` included) is rendered
        by the triggerer. Where it cannot be, and below 3.3, the sensor defers from a worker.
    """

    template_fields: Sequence[str] = ("rid",)

    def __init__(
        self,
        *,
        rid: str,
        cincopa_conn_id: str = CincopaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.rid = rid
        self.cincopa_conn_id = cincopa_conn_id
        self.deferrable = deferrable
        self.set_up_start_from_trigger(
            start_from_trigger,
            trigger_cls="airflow_provider_cincopa.triggers.cincopa.CincopaAssetSyncedTrigger",
            trigger_kwargs=self._start_trigger_kwargs(rid=rid),
        )

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """One ``asset.list`` call: synced gives the asset, failed or gone raises, else poke again."""
        rid = str(self.rid)
        status = self.hook.get_asset_sync_status(rid)
        if status.state == "synced":
            self.log.info("Asset %s is synced: versions %s", rid, ", ".join(status.versions) or "none listed")
            remember_asset(context, rid)
            return PokeReturnValue(is_done=True, xcom_value=status.asset)
        if status.state in ("failed", "missing"):
            raise CincopaSyncFailedError(status.failure_message(), rid=rid)
        self.log.info("%s", status.waiting_message())
        return False

    def _trigger(self, **settings: Any) -> BaseTrigger:
        from airflow_provider_cincopa.triggers.cincopa import CincopaAssetSyncedTrigger

        return CincopaAssetSyncedTrigger(rid=str(self.rid), **settings)

    def _result(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        remember_asset(context, str(event.get("rid") or self.rid))
        return dict(event["asset"])

    def _error(self, event: dict[str, Any]) -> Exception:
        if event["status"] == "failed":
            return CincopaSyncFailedError(event["message"], rid=event.get("rid"))
        return CincopaAssetSyncError(event["message"], method="asset.list")
