"""
The "Cincopa asset" button on every task that made or touched an asset.

A task that made or touched an asset records its rid under the XCom key :data:`ASSET_XCOM_KEY`
(:func:`remember_asset`); :class:`CincopaAssetLink` turns that rid into a dashboard URL. On
Airflow 3 the worker computes the link when the task finishes and stores it in XCom, where the UI
reads it; a task that made no asset gets an empty link, which the UI shows disabled.

.. warning:: **The dashboard URL is a guess.** No public Cincopa source documents the address of
    an asset's page in the dashboard. :data:`DEFAULT_DASHBOARD_URL_TEMPLATE` is our guess, kept
    in this one place; set the connection's extra ``dashboard_url_template`` (a string with a
    ``{rid}`` placeholder) to the address your account really uses.
"""

from __future__ import annotations

import logging
import string
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

from airflow_provider_cincopa.exceptions import CincopaInputError

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context
    from airflow.sdk.types import TaskInstanceKey

log = logging.getLogger(__name__)

#: The XCom key under which a task records the rid of the asset it made or touched.
ASSET_XCOM_KEY = "cincopa_asset_rid"
#: The connection extra that overrides :data:`DEFAULT_DASHBOARD_URL_TEMPLATE`.
DASHBOARD_TEMPLATE_EXTRA = "dashboard_url_template"
#: GUESS: no public source documents the dashboard's URL for an asset (see the module docstring).
DEFAULT_DASHBOARD_URL_TEMPLATE = "https://www.cincopa.com/media-platform/assets?rid={rid}"


def remember_asset(context: Context, rid: str | None) -> None:
    """Record the rid the task made or touched, for :class:`CincopaAssetLink`."""
    ti = context.get("ti")  # None when an operator method is called outside a task run
    if rid and ti is not None:
        ti.xcom_push(key=ASSET_XCOM_KEY, value=str(rid))


def dashboard_url(rid: str, template: str | None = None) -> str:
    """
    The dashboard URL of asset ``rid``.

    :param rid: the asset.
    :param template: an ``http(s)://`` URL with a ``{rid}`` placeholder (and no other); default
        :data:`DEFAULT_DASHBOARD_URL_TEMPLATE` (a guess).
    :raises CincopaInputError: when the template is not such a URL.
    """
    template = template or DEFAULT_DASHBOARD_URL_TEMPLATE
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise CincopaInputError(f"{DASHBOARD_TEMPLATE_EXTRA} {template!r} is not a valid template: {exc}") from None
    if fields != {"rid"} or not template.startswith(("http://", "https://")):
        raise CincopaInputError(
            f"{DASHBOARD_TEMPLATE_EXTRA} must be an http(s) URL with one placeholder, {{rid}}, "
            f"e.g. {DEFAULT_DASHBOARD_URL_TEMPLATE!r}; got {template!r}"
        )
    return template.format(rid=quote(str(rid), safe=""))


class CincopaAssetLink(BaseOperatorLink):
    """
    Opens the asset a task made or touched in Cincopa's dashboard (empty when it made none).

    The URL pattern is a guess (see :mod:`airflow_provider_cincopa.links.cincopa`), overridable
    with the connection's extra ``dashboard_url_template``.
    """

    name = "Cincopa asset"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        """The asset's dashboard URL, or ``""`` when the task recorded no asset."""
        # Airflow 3.0 fails the task when a link raises: every failure here is logged, not raised.
        try:
            from airflow.sdk.execution_time.xcom import XCom

            rid = XCom.get_value(ti_key=ti_key, key=ASSET_XCOM_KEY)
        except Exception as exc:
            log.warning("Cincopa asset link: could not read the task's rid: %s", exc)
            return ""
        if not rid:
            return ""
        try:
            return dashboard_url(str(rid), _template(getattr(operator, "cincopa_conn_id", None)))
        except CincopaInputError as exc:
            log.error("Cincopa asset link left empty: %s", exc)
            return ""


def _template(conn_id: str | None) -> str | None:
    from airflow_provider_cincopa._compat import BaseHook
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    try:
        extra: dict[str, Any] = BaseHook.get_connection(conn_id or CincopaHook.default_conn_name).extra_dejson
    except Exception:  # no such connection: the default pattern still names the asset
        return None
    return str(extra.get(DASHBOARD_TEMPLATE_EXTRA) or "") or None
