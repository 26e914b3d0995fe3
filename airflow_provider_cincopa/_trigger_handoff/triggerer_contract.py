"""
What the start/end-from-trigger hand-off relies on from Airflow's triggerer, in one place.

None of it is a public Airflow API; each item names where it comes from, so that a new Airflow
release is checked here and nowhere else:

- :data:`TRIGGERER_CONTEXT`: the template context names the triggerer builds when it renders a
  trigger's templated fields (``ToTriggerSupervisor`` in airflow/jobs/triggerer_job_runner.py
  lists the supervisor messages it serves; a name whose value needs another message makes the
  render wait for ever).
- :func:`check_template`: Jinja's own parser and ``jinja2.meta`` read the template; note that
  ``meta.find_undeclared_variables`` rewrites the parsed tree in place (constant folding), which
  ``_literal_map_indexes`` accounts for.
- :func:`xcom_arg_as_template`: an ``XComArg`` rewritten as the ``ti.xcom_pull(...)`` template the
  triggerer renders (trigger kwargs are stored as JSON, so an ``XComArg`` cannot travel as is).
- :data:`TRIGGER_TIMEOUT_GRACE`: the scheduler's trigger timeout is the sensor's plus this grace,
  and the trigger's own deadline (``end.deadline``) is read back from ``timeout_after``.
"""

from __future__ import annotations

from typing import Any

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
#: What makes a string a Jinja template (a plain string needs no render check).
JINJA_MARKS = ("{{", "{%", "{#")


class CannotStartFromTrigger(Exception):
    """What a field holds cannot be rendered by the triggerer (the message says why)."""


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
    "check_template",
    "xcom_arg_as_template",
]
