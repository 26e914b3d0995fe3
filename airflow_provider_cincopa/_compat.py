"""
What differs between the Airflow releases the provider supports (3.0 to 3.3), in one place.

Names whose home moved (each block tries the newest location first, so a deprecated path is never
touched where the new one exists), ``ResumableJobMixin`` with a stand-in below 3.3, and the few
behaviours that differ: reading a connection in a trigger, refusing an unknown storage scheme, and
the connection form of 3.0 and 3.1. The rest of the package imports these from here and nothing
version-dependent itself, so supporting another release means changing this one file.

Why not ``airflow.providers.common.compat``, as the official providers do: a name is taken from it
only where every release of it that installs beside a supported Airflow offers the name. Beside
Airflow 3.0.6, resolved as of its release (scripts/bootstrap: 2025-09-05), the newest is 1.7.3,
which has no ``sdk`` module (``conf``, ``BaseHook``, the exceptions, ``ResumableJobMixin``) and no
``connection`` module (``get_async_connection``), and whose ``version_compat`` stops at 3.1. What
the package takes from it is the OpenLineage ``Dataset`` (``common.compat.openlineage.facet``, in
every release from 1.1.0), imported where it is used; each block below says what it lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from airflow import __version__ as _airflow_version
from packaging.version import Version

T = TypeVar("T")

# common.compat's version_compat has flags up to 3.1 only in 1.7.3 (and official providers each
# keep their own copy of these flags rather than import another provider's).
#: The Airflow release in use, without any pre-release or local part.
AIRFLOW_VERSION = Version(Version(_airflow_version).base_version)
AIRFLOW_V_3_2_PLUS = AIRFLOW_VERSION.release >= (3, 2)
#: The triggerer renders a start_from_trigger task's template fields itself from 3.3.
AIRFLOW_V_3_3_PLUS = AIRFLOW_VERSION.release >= (3, 3)

# mypy checks this file against one Airflow: on the others, the first import of a pair is missing
# (attr-defined) or the second one is a redefinition (no-redef, assignment).

# The task SDK's configuration arrived in 3.2; before that the core one is the configuration.
# (common.compat.sdk has conf, BaseHook and the exceptions, but not in 1.7.3: see the docstring.)
try:
    from airflow.sdk import conf  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.0, 3.1
    from airflow.configuration import conf  # type: ignore[assignment, no-redef]

# BaseHook moved into the task SDK in 3.1.
try:
    from airflow.sdk import BaseHook  # type: ignore[attr-defined]
except ImportError:  # Airflow 3.0
    from airflow.hooks.base import BaseHook  # type: ignore[assignment, attr-defined, no-redef]

# The SDK has had these four since 3.2 (3.1 had only AirflowException there). They are taken
# from one module so that AirflowFailException really is an AirflowException of the same class.
try:
    from airflow.sdk.exceptions import (  # type: ignore[attr-defined]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )
except ImportError:  # Airflow 3.0, 3.1
    from airflow.exceptions import (  # type: ignore[assignment, no-redef]
        AirflowException,
        AirflowFailException,
        AirflowSensorTimeout,
        AirflowSkipException,
    )

if TYPE_CHECKING:
    from airflow.sdk import Connection, Context, ObjectStoragePath


async def aread_connection(conn_id: str, parse: Callable[[Connection], T]) -> T:
    """
    Read connection ``conn_id`` in a trigger and return ``parse(connection)``.

    ``parse`` may call the task SDK synchronously (``extra_dejson`` and ``mask_secret`` do). From
    Airflow 3.2 the triggerer allows that in its event loop, and the connection is read with
    ``BaseHook.aget_connection``. On 3.0 and 3.1 a sync SDK call from the event loop's thread fails
    ("You cannot use AsyncToSync in the same thread as an async event loop"), even the
    ``mask_secret`` inside their own ``aget_connection``; there the whole lookup runs in a worker
    thread with ``sync_to_async``, as those releases require.

    Not ``common.compat.connection.get_async_connection``: 1.7.3 (beside 3.0.6) has no such module,
    and where it exists it awaits ``aget_connection`` in the event loop on 3.0 and 3.1 too, and it
    leaves ``parse`` to run there.
    """
    if AIRFLOW_V_3_2_PLUS:
        return parse(await BaseHook.aget_connection(conn_id))
    from asgiref.sync import sync_to_async  # an Airflow dependency

    return await sync_to_async(lambda: parse(BaseHook.get_connection(conn_id)))()


def check_storage_scheme(path: ObjectStoragePath) -> None:
    """
    Refuse a URL whose scheme no filesystem implements, as soon as its path is made.

    universal-pathlib 0.3 (Airflow 3.2+) does so itself when the path is made; 0.2 (Airflow 3.0,
    3.1) makes the path anyway, turning ``x://bucket/key`` into ``x:///bucket/key``, and fails only
    at the first read. This is the check 0.3 makes, so both fail alike.
    """
    from upath.registry import available_implementations

    if path.protocol not in available_implementations(fallback=True):
        raise ValueError(f"Unsupported filesystem: {path.protocol!r}")


def legacy_connection_form_widgets(conn_fields: dict[str, Any]) -> dict[str, Any]:
    """
    The provider info's ``conn-fields`` as the wtforms fields Airflow 3.0 and 3.1 ask a hook's
    ``get_connection_form_widgets`` for (3.2+ reads ``conn-fields`` itself).

    wtforms comes with the FAB provider. Without it those releases show no extra fields for any
    provider, and their providers manager expects the ``ImportError`` this raises then.
    """
    from wtforms import IntegerField, StringField
    from wtforms.validators import Optional

    widgets: dict[str, Any] = {}
    for name, spec in conn_fields.items():
        schema = spec.get("schema", {})
        types = schema.get("type", "string")
        default = schema.get("default")
        if "integer" in ([types] if isinstance(types, str) else types):
            field, value = IntegerField, default
        else:  # no number field before 3.2: a text field, which the hook parses
            field, value = StringField, None if default is None else str(default)
        widgets[name] = field(
            spec.get("label", name), validators=[Optional()], description=spec.get("description", ""), default=value
        )
    return widgets


def legacy_ui_field_behaviour(behaviour: dict[str, Any]) -> dict[str, Any]:
    """The provider info's ``ui-field-behaviour`` as Airflow 3.0 and 3.1 ask ``get_ui_field_behaviour`` for it."""
    return {
        "hidden_fields": list(behaviour.get("hidden-fields", [])),
        "relabeling": dict(behaviour.get("relabeling", {})),
        "placeholders": dict(behaviour.get("placeholders", {})),
    }


# ResumableJobMixin and the task_state_store it keeps the job id in arrived in Airflow 3.3. Newer
# releases of apache-airflow-providers-common-compat ship a stand-in for older Airflow; the ones
# that install beside 3.0 to 3.2 as released (1.7.3, 1.14.1, 1.15.0) do not, and there the one
# below does the same: no store to resume from, so every try submits a new job, which is what an
# operator did before it became durable.
try:
    from airflow.sdk import ResumableJobMixin  # type: ignore[attr-defined]
except ImportError:
    try:
        from airflow.providers.common.compat.sdk import ResumableJobMixin  # type: ignore[attr-defined, no-redef]
    except ImportError:  # Airflow < 3.3 with a common-compat provider that has no stand-in

        class ResumableJobMixin:  # type: ignore[no-redef]
            """Airflow < 3.3 stand-in: no ``task_state_store``, so every try submits a new job."""

            external_id_key: str = "remote_job_id"

            def __init__(self, *, durable: bool = False, **kwargs: Any) -> None:
                super().__init__(**kwargs)
                self.durable = False  # nothing to be durable with below 3.3

            def execute_resumable(self, context: Context) -> Any:
                """Submit, wait, and return the result: what the 3.3 mixin does on a first try."""
                external_id = self.submit_job(context)
                self.poll_until_complete(external_id, context)
                return self.get_job_result(external_id, context)

            def submit_job(self, context: Context) -> Any:
                raise NotImplementedError

            def get_job_status(self, external_id: Any, context: Context) -> str:
                raise NotImplementedError

            def is_job_active(self, status: str) -> bool:
                raise NotImplementedError

            def is_job_succeeded(self, status: str) -> bool:
                raise NotImplementedError

            def poll_until_complete(self, external_id: Any, context: Context) -> None:
                raise NotImplementedError

            def get_job_result(self, external_id: Any, context: Context) -> Any:
                raise NotImplementedError


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_2_PLUS",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowException",
    "AirflowFailException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "BaseHook",
    "ResumableJobMixin",
    "aread_connection",
    "check_storage_scheme",
    "conf",
    "legacy_connection_form_widgets",
    "legacy_ui_field_behaviour",
]
