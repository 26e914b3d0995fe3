"""
What the provider's polling triggers share (triggers/cincopa.py): the poll loop, the hook's life
and ``end_from_trigger``. A trigger says only what differs: the id it waits for, the hook call, how a
status maps to an event, its messages and its serialised fields.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, ClassVar, Generic, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_cincopa.exceptions import CincopaError
from airflow_provider_cincopa.hooks._transport import TransientError
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.redaction import redact

#: Consecutive network failures tolerated before the trigger gives up with an error event.
MAX_TRANSIENT_FAILURES = 10
#: Seconds between two "still waiting" lines of one trigger (see ``_log_waiting``).
WAITING_LOG_INTERVAL = 60.0

StatusT = TypeVar("StatusT")


class CincopaPollingTrigger(BaseTrigger, Generic[StatusT]):
    """
    Call the hook every ``poll_interval`` seconds until a status is final or ``end_time`` passes.

    Yields exactly one event ``{"status", "message", <id_field>, <xcom_value_key>}`` where
    ``status`` is ``success``, ``failed``, ``timeout`` or ``error`` (network failures are retried
    :data:`MAX_TRANSIENT_FAILURES` times in a row first). A subclass sets the class attributes,
    stores its id in the attribute named ``id_field``, implements :meth:`_fetch_status` and
    :meth:`_event_for`, and adds its own serialised arguments, if any, in :meth:`_own_kwargs`.

    :param cincopa_conn_id: the Airflow connection with the api_token.
    :param poll_interval: seconds between two calls.
    :param end_time: epoch seconds after which the trigger answers ``timeout``; None waits forever.
    :param end_from_trigger: end the task here instead of resuming it on a worker
        (_trigger_handoff/end.py); the id may then be a template the triggerer renders.
    :param soft_fail: with ``end_from_trigger``, skip the task instead of failing it.
    """

    #: The attribute (and event key) holding the id waited for: a sensor's template field, which the
    #: triggerer renders when the task starts in the triggerer, so it must keep the field's name.
    id_field: ClassVar[str]
    #: The success event's key for the value the task returns (its XCom).
    xcom_value_key: ClassVar[str]
    #: Log line for a failed call that is retried, formatted with the id and the error.
    retry_warning: ClassVar[str]
    #: The timeout event's message, formatted with the id.
    timeout_message: ClassVar[str]

    def __init__(
        self,
        *,
        cincopa_conn_id: str,
        poll_interval: float,
        end_time: float | None,
        end_from_trigger: bool,
        soft_fail: bool,
    ) -> None:
        super().__init__()
        self.end_from_trigger = end_from_trigger
        self.soft_fail = soft_fail
        self.cincopa_conn_id = cincopa_conn_id
        self.poll_interval = poll_interval
        self.end_time = end_time
        self._waiting_logged_at: float | None = None  # see _log_waiting

    @property
    def _waited_for(self) -> str:
        """The id this trigger waits for (the attribute named by ``id_field``)."""
        return getattr(self, self.id_field)

    @abc.abstractmethod
    async def _fetch_status(self, hook: CincopaHook) -> StatusT:
        """One hook call for the current status of what is waited for."""

    @abc.abstractmethod
    def _event_for(self, status: StatusT) -> TriggerEvent | None:
        """The final event for ``status``, or None (after logging progress) to poll again."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Class path and kwargs: the id, connection id and times only (the token is read in the triggerer)."""
        kwargs: dict[str, Any] = {
            self.id_field: self._waited_for,
            "cincopa_conn_id": self.cincopa_conn_id,
            "poll_interval": self.poll_interval,
            "end_time": self.end_time,
            **self._own_kwargs(),
        }
        if self.end_from_trigger:
            kwargs.update(end_from_trigger=True, soft_fail=self.soft_fail)
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def _own_kwargs(self) -> dict[str, Any]:
        """A subclass's own constructor arguments, for :meth:`serialize`."""
        return {}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until a final status or ``end_time``, then yield one event."""
        if self.end_from_trigger:
            yield await self._end_task_here()
            return
        hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
        try:
            async for event in self._poll(hook):
                yield event
                return
        finally:
            await hook.aclose()

    async def _end_task_here(self) -> TriggerEvent:
        """``run`` for ``end_from_trigger``: the same wait, ended here (the rendered id checked first)."""
        from airflow_provider_cincopa._trigger_handoff.end import deadline, end_task

        setattr(self, self.id_field, str(self._waited_for).strip())  # the triggerer has rendered it by now
        if self.end_time is None:
            self.end_time = deadline(self)
        if self._waited_for in ("", "None"):
            event = self._event(
                "error", f"{self.id_field} rendered to {self._waited_for!r}: did the upstream task push one?"
            )
        else:
            hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
            events = self._poll(hook)
            try:
                event = await events.__anext__()  # _poll yields exactly one event
            finally:
                await events.aclose()
                await hook.aclose()
        return await end_task(self, event, soft_fail=self.soft_fail, xcom_value_key=self.xcom_value_key)

    async def _poll(self, hook: CincopaHook) -> AsyncGenerator[TriggerEvent, None]:
        failures = 0
        while True:
            try:
                status = await self._fetch_status(hook)
                failures = 0
            except TransientError as exc:
                failures += 1
                if failures > MAX_TRANSIENT_FAILURES:
                    yield self._event("error", f"Cincopa could not be reached {failures} times in a row: {exc}")
                    return
                self.log.warning(self.retry_warning, self._waited_for, exc)
            except CincopaError as exc:
                yield self._event("error", str(exc))
                return
            except Exception as exc:  # the event must still come, and without secrets
                yield self._event("error", f"{type(exc).__name__}: {redact(exc)}")
                return
            else:
                # Outside the try: only a failed call is retried or turned into an error event.
                event = self._event_for(status)
                if event is not None:
                    yield event
                    return
            if self.end_time is not None and time.time() >= self.end_time:
                yield self._event("timeout", self.timeout_message.format(self._waited_for))
                return
            await asyncio.sleep(self.poll_interval)

    def _log_waiting(self, template: str, *args: Any) -> None:
        """
        Log a "still waiting" line: the first one, then at most one per :data:`WAITING_LOG_INTERVAL`.

        A triggerer's trigger runner hands every log line to its supervisor through a socket and
        blocks when it is full. A line per poll from many waiting triggers filled it while the
        supervisor was itself blocked sending the runner a response, and the triggerer hung
        (apache/airflow#65286 reports a triggerer that stalls; docs/performance.md has the run).
        A line a minute per wait still shows the progress in the task's log.
        """
        now = self._waiting_clock()
        if self._waiting_logged_at is not None and now - self._waiting_logged_at < WAITING_LOG_INTERVAL:
            return
        self._waiting_logged_at = now
        self.log.info(template, *args)

    def _waiting_clock(self) -> float:
        """The clock of :meth:`_log_waiting` (monotonic seconds); a test's subclass injects its own."""
        return time.monotonic()

    def _event(self, status: str, message: str, value: Any = None) -> TriggerEvent:
        payload = {"status": status, "message": message, self.id_field: self._waited_for, self.xcom_value_key: value}
        return TriggerEvent(payload)
