"""
The sensor's half of ``start_from_trigger``: the scheduler hands the wait straight to the
triggerer, which renders the templated fields itself and ends the task there, so the sensor never
starts a worker process (Airflow 3.3+).

A sensor plugs in with :class:`StartFromTriggerMixin` (see its docstring); its trigger ends the task
with :func:`airflow_provider_cincopa._trigger_handoff.end.end_task`.

Where the triggerer could not render what a field holds, or on Airflow < 3.3, the sensor starts on
a worker and defers from there, as ``deferrable=True`` does, and says why: a task is never left
deferred with a template the triggerer cannot answer.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from airflow_provider_cincopa._compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_cincopa._trigger_handoff.triggerer_contract import (
    JINJA_MARKS,
    TRIGGER_TIMEOUT_GRACE,
    CannotStartFromTrigger,
    check_template,
    xcom_arg_as_template,
)

log = logging.getLogger(__name__)

#: Sensor classes that already warned, in this process, that they fall back below Airflow 3.3.
_warned_old_airflow: set[str] = set()


class StartFromTriggerMixin:
    """
    Let a deferrable sensor start in the triggerer (``start_from_trigger=True``).

    A sensor plugs in by inheriting from this mixin before ``BaseSensorOperator`` and calling
    :meth:`set_up_start_from_trigger` at the end of its ``__init__`` with its trigger's class path
    and the trigger's keyword arguments. Each argument named like one of the sensor's
    ``template_fields`` is rendered by the triggerer, so the trigger must have an attribute of that
    name; an ``XComArg`` (``task.output``) in it is turned into a template the triggerer can
    render. The trigger takes ``end_from_trigger`` and ``soft_fail`` and ends the task with
    :func:`~airflow_provider_cincopa._trigger_handoff.end.end_task`; the sensor keeps its
    ``execute`` (defer from the worker when ``self.deferrable``) and its ``execute_complete``, which
    run when the sensor starts on a worker and when the trigger resumes the task there (the
    provider's sensors share both: ``_CincopaTriggerSensor`` in sensors/cincopa.py).

    The class attributes are what a mapped task (``.partial().expand()``) gets: no start arguments,
    so it starts on a worker.
    """

    start_from_trigger: bool = False
    start_trigger_args: Any = None

    # Set by BaseOperator / BaseSensorOperator; declared for type checkers.
    task_id: str
    template_fields: Any
    timeout: float
    deferrable: bool

    def set_up_start_from_trigger(
        self,
        requested: bool,
        *,
        trigger_cls: str,
        trigger_kwargs: Mapping[str, Any],
        next_method: str = "execute_complete",
    ) -> None:
        """
        Start this task in the triggerer if ``requested`` and possible; otherwise defer from a worker.

        :param requested: the sensor's ``start_from_trigger`` argument.
        :param trigger_cls: the trigger's dotted class path.
        :param trigger_kwargs: the trigger's keyword arguments, without ``end_from_trigger`` (added
            here). Values of template fields may be templates or ``XComArg``; the rest must be
            plain JSON values.
        :param next_method: the method a worker runs when the trigger resumes the task there.
        """
        self.start_from_trigger = False
        if not requested:
            return
        self.deferrable = True  # wherever it starts, it waits in the triggerer
        if not AIRFLOW_V_3_3_PLUS:
            self._warn_old_airflow()
            return
        try:
            kwargs = {name: self._for_triggerer(name, value) for name, value in trigger_kwargs.items()}
            self._check_not_in_mapped_group()
        except CannotStartFromTrigger as why:
            getattr(self, "log", log).warning(
                "Task %s starts on a worker and defers from there instead of starting in the triggerer: %s",
                self.task_id,
                why,
            )
            return
        from airflow.triggers.base import StartTriggerArgs

        self.start_from_trigger = True
        # A new instance, never the class attribute changed in place: every other task of the class
        # would get this task's arguments.
        self.start_trigger_args = StartTriggerArgs(
            trigger_cls=trigger_cls,
            trigger_kwargs={**kwargs, "end_from_trigger": True},
            next_method=next_method,
            next_kwargs=None,
            timeout=timedelta(seconds=self.timeout + TRIGGER_TIMEOUT_GRACE),
        )

    def _warn_old_airflow(self) -> None:
        name = type(self).__name__
        if name in _warned_old_airflow:
            return
        _warned_old_airflow.add(name)
        from airflow_provider_cincopa._compat import AIRFLOW_VERSION

        warnings.warn(
            f"{name}(start_from_trigger=True) needs Airflow 3.3 or later (this is {AIRFLOW_VERSION}): "
            "these sensors start on a worker and defer from there, as with deferrable=True.",
            UserWarning,
            stacklevel=5,  # the DAG file: past this mixin, the sensor's __init__ and BaseOperator's wrapper
        )

    def _check_not_in_mapped_group(self) -> None:
        group = getattr(self, "get_closest_mapped_task_group", lambda: None)()
        if group is not None:
            raise CannotStartFromTrigger(
                f"it is in mapped task group {group.group_id!r}, which Airflow does not start from the triggerer"
            )

    def _for_triggerer(self, name: str, value: Any) -> Any:
        """``value`` as the triggerer can render it, or CannotStartFromTrigger."""
        from airflow.sdk import XComArg

        templated = name in self.template_fields
        if isinstance(value, XComArg):
            if not templated:
                raise CannotStartFromTrigger(f"{name!r} holds an XComArg but is not a template field")
            return xcom_arg_as_template(name, value)
        if isinstance(value, str):
            if templated and any(mark in value for mark in JINJA_MARKS):
                check_template(name, value)
            return value
        if value is None or isinstance(value, (bool, int, float)):
            return value
        raise CannotStartFromTrigger(f"{name!r} holds a {type(value).__name__}, which the triggerer cannot be sent")


__all__ = ["StartFromTriggerMixin"]
