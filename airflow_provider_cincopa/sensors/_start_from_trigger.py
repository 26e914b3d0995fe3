"""
``start_from_trigger`` for the provider's sensors: the scheduler hands the wait straight to the
triggerer, which renders the templated fields itself and ends the task there, so the sensor never
starts a worker process (Airflow 3.3+).

A sensor plugs in with :class:`StartFromTriggerMixin` (see its docstring); its trigger ends the task
with :func:`airflow_provider_cincopa.triggers._end_from_trigger.end_task`.

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

log = logging.getLogger(__name__)

#: Seconds between the trigger's own deadline (the sensor's ``timeout``, from the moment the
#: scheduler deferred the task) and the scheduler's trigger timeout, so that the trigger's
#: "timed out" event, with its message, always comes before the scheduler gives up on the trigger.
TRIGGER_TIMEOUT_GRACE = 60.0

#: Names of the template context the triggerer builds without asking for anything it cannot serve.
#: Left out on purpose: ``prev_*_success`` (GetPrevSuccessfulDagRun), ``inlet_events``,
#: ``outlet_events``, ``triggering_asset_events`` and ``task_state_store``: the triggerer's
#: supervisor answers none of their messages (``ToTriggerSupervisor`` in
#: airflow/jobs/triggerer_job_runner.py), and a render that waits for an answer never ends.
TRIGGERER_CONTEXT = frozenset(
    {
        "conn",
        "dag",
        "dag_run",
        "data_interval_end",
        "data_interval_start",
        "ds",
        "ds_nodash",
        "inlets",
        "logical_date",
        "macros",
        "map_index_template",
        "outlets",
        "params",
        "partition_date",
        "partition_key",
        "run_id",
        "task",
        "task_instance",
        "task_instance_key_str",
        "task_reschedule_count",
        "ti",
        "ts",
        "ts_nodash",
        "ts_nodash_with_tz",
        "var",
    }
)
#: Objects of the context whose own methods may call the supervisor: only ``xcom_pull`` is allowed.
_CONTEXT_OBJECTS = frozenset({"ti", "task_instance", "dag_run", "task", "dag"})
_JINJA_MARKS = ("{{", "{%", "{#")
#: Sensor classes that already warned, in this process, that they fall back below Airflow 3.3.
_warned_old_airflow: set[str] = set()


class CannotStartFromTrigger(Exception):
    """What a field holds cannot be rendered by the triggerer (the message says why)."""


class StartFromTriggerMixin:
    """
    Let a deferrable sensor start in the triggerer (``start_from_trigger=True``).

    A sensor plugs in by inheriting from this mixin before ``BaseSensorOperator`` and calling
    :meth:`set_up_start_from_trigger` at the end of its ``__init__`` with its trigger's class path
    and the trigger's keyword arguments. Each argument named like one of the sensor's
    ``template_fields`` is rendered by the triggerer, so the trigger must have an attribute of that
    name; an ``XComArg`` (``task.output``) in it is turned into a template the triggerer can
    render. The trigger takes ``end_from_trigger`` and ``soft_fail`` and ends the task with
    :func:`~airflow_provider_cincopa.triggers._end_from_trigger.end_task`; the sensor keeps its
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
            if templated and any(mark in value for mark in _JINJA_MARKS):
                check_template(name, value)
            return value
        if value is None or isinstance(value, (bool, int, float)):
            return value
        raise CannotStartFromTrigger(f"{name!r} holds a {type(value).__name__}, which the triggerer cannot be sent")


def xcom_arg_as_template(name: str, arg: Any) -> str:
    """
    ``task.output`` (or ``XComArg(task, key)``) as the Jinja pull the triggerer renders.

    The trigger's keyword arguments are stored as JSON: an ``XComArg`` would reach the trigger
    unresolved. ``map_indexes=-1`` is required: without it the pull asks for every map index
    (``GetXComSequenceSlice``), a message the triggerer does not serve.
    """
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    if type(arg) is not PlainXComArg:
        raise CannotStartFromTrigger(
            f"{name!r} is a {type(arg).__name__} (.map(), .zip() or .concat() of an XComArg); "
            "only a task's .output or XComArg(task, key) can be rendered in the triggerer"
        )
    upstream = arg.operator
    if upstream.is_mapped or upstream.get_closest_mapped_task_group() is not None:
        raise CannotStartFromTrigger(f"{name!r} pulls from mapped task {upstream.task_id!r}")
    return f"{{{{ ti.xcom_pull(task_ids={upstream.task_id!r}, key={arg.key!r}, map_indexes=-1) }}}}"


def check_template(name: str, template: str) -> None:
    """
    Raise CannotStartFromTrigger unless the triggerer can render ``template``.

    Conservative by design, as the cost of a refusal is one worker start and the cost of a wrong
    yes is a task deferred for good: only the names in :data:`TRIGGERER_CONTEXT`; ``xcom_pull``
    only with a literal ``map_indexes``; no other method of the task instance, run, task or DAG;
    no ``include``, ``import`` or ``extends``.
    """
    import jinja2
    from jinja2 import meta, nodes

    env = jinja2.Environment()
    try:
        tree = env.parse(template)
    except jinja2.TemplateSyntaxError as exc:
        raise CannotStartFromTrigger(f"{name!r} is not a valid template: {exc}") from None
    unknown = meta.find_undeclared_variables(tree) - TRIGGERER_CONTEXT - set(env.globals)
    if unknown:
        raise CannotStartFromTrigger(
            f"{name!r} uses {', '.join(sorted(unknown))}, which the triggerer's template context does not serve"
        )
    if any(True for _ in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends))):
        raise CannotStartFromTrigger(f"{name!r} includes or imports another template")
    for call in tree.find_all(nodes.Call):
        func = call.node
        if isinstance(func, nodes.Getattr) and func.attr == "xcom_pull":
            if call.dyn_kwargs is not None or call.dyn_args is not None or not _literal_map_indexes(call):
                raise CannotStartFromTrigger(
                    f"{name!r} calls xcom_pull without a literal map_indexes (e.g. map_indexes=-1): such a pull "
                    "asks for every map index (GetXComSequenceSlice), which the triggerer does not serve"
                )
        elif (
            isinstance(func, nodes.Getattr) and isinstance(func.node, nodes.Name) and func.node.name in _CONTEXT_OBJECTS
        ):
            # ti.get_dagrun() and the like may ask the supervisor; dag_run.conf.get() cannot.
            raise CannotStartFromTrigger(
                f"{name!r} calls {func.node.name}.{func.attr}(), of which only xcom_pull is allowed"
            )


def _literal_map_indexes(call: Any) -> bool:
    from jinja2 import nodes

    def is_index(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for kw in call.kwargs:
        if kw.key == "map_indexes":
            value = kw.value
            # find_undeclared_variables() optimises the tree in place: [0, 1] and -1 become Consts.
            if isinstance(value, nodes.Const):
                literal = value.value
                return is_index(literal) or (isinstance(literal, (list, tuple)) and all(map(is_index, literal)))
            if isinstance(value, (nodes.List, nodes.Tuple)):
                return all(isinstance(i, nodes.Const) and is_index(i.value) for i in value.items)
            if isinstance(value, nodes.Neg) and isinstance(value.node, nodes.Const):
                return is_index(value.node.value)
            return False
    return False


__all__ = [
    "TRIGGERER_CONTEXT",
    "TRIGGER_TIMEOUT_GRACE",
    "CannotStartFromTrigger",
    "StartFromTriggerMixin",
    "check_template",
    "xcom_arg_as_template",
]
