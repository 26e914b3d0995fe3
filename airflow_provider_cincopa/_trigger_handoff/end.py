"""
The trigger's half of ``start_from_trigger`` (the sensor's half: start.py): end the task in
the triggerer instead of resuming it on a worker.

The provider's triggers yield one event ``{"status", "message", ...}`` with ``status`` one of
``success``, ``failed``, ``timeout`` or ``error``. :func:`end_task` turns it into the event that
ends the task there. A trigger with ``end_from_trigger`` calls :func:`deadline` once, before its
first poll, and passes each event through :func:`end_task` before yielding it.
"""

from __future__ import annotations

import time
from typing import Any

from airflow.triggers.base import BaseTrigger, TaskFailedEvent, TaskSkippedEvent, TaskSuccessEvent, TriggerEvent

from airflow_provider_cincopa._trigger_handoff.triggerer_contract import TRIGGER_TIMEOUT_GRACE

#: Outcomes a retry cannot change (the import failed; the sensor's time is up): a worker-run sensor
#: fails them without using its retries.
FINAL_STATUSES = frozenset({"failed", "timeout"})


def deadline(trigger: BaseTrigger) -> float | None:
    """
    The epoch second at which a started-from-trigger wait times out, or None (no timeout).

    The scheduler set the trigger's ``timeout_after`` to the moment it deferred the task plus the
    sensor's ``timeout`` plus :data:`TRIGGER_TIMEOUT_GRACE`: the sensor's own deadline is the grace
    before it, whichever triggerer runs the trigger and however often it was restarted.
    """
    timeout_after = getattr(trigger, "timeout_after", None)
    if timeout_after is None:
        return None
    return max(timeout_after.timestamp() - TRIGGER_TIMEOUT_GRACE, time.time())


async def end_task(
    trigger: BaseTrigger, event: TriggerEvent, *, soft_fail: bool = False, xcom_value_key: str = "rid"
) -> TriggerEvent:
    """
    The event that ends the task for ``event`` (a payload with ``status`` and ``message``).

    - ``success``: the payload's ``xcom_value_key`` is written as the task's ``return_value`` XCom
      through the task SDK (the triggerer serves ``SetXCom``), then a bare ``TaskSuccessEvent``.
      ``TaskSuccessEvent(xcoms=...)`` would not do: its values reach downstream tasks JSON-encoded
      a second time (a rid arrives wrapped in quotes).
    - anything else with ``soft_fail``: ``TaskSkippedEvent``, as the sensor's ``soft_fail`` skips.
    - ``failed`` or ``timeout`` while the task has retries left: ``event`` itself, so a worker
      resumes the task and fails it without a retry, as a worker-run sensor does (a
      ``TaskFailedEvent`` would spend every retry watching the same failed import).
    - otherwise ``TaskFailedEvent``, after logging Cincopa's message at ERROR in the task's log
      (the trigger's log is part of the try's log).
    """
    payload: dict[str, Any] = event.payload
    status, message = payload.get("status"), str(payload.get("message"))
    ti: Any = trigger.task_instance
    if status == "success":
        from airflow.sdk.execution_time.xcom import XCom

        await XCom.aset(
            key="return_value",
            value=payload[xcom_value_key],
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            run_id=ti.run_id,
            map_index=ti.map_index if ti.map_index is not None else -1,
        )
        trigger.log.info("%s; the task ends in the triggerer", message)
        return TaskSuccessEvent()
    if soft_fail:
        trigger.log.info("%s; skipped (soft_fail)", message)
        return TaskSkippedEvent()
    if status in FINAL_STATUSES and _has_retries_left(ti):
        trigger.log.error("%s; a worker fails the task, so that its retries are not spent on it", message)
        return event
    trigger.log.error("%s", message)
    return TaskFailedEvent()


def _has_retries_left(ti: Any) -> bool:
    retries = getattr(getattr(ti, "task", None), "retries", 0) or 0
    return int(getattr(ti, "try_number", 1) or 1) <= int(retries)


__all__ = ["FINAL_STATUSES", "deadline", "end_task"]
