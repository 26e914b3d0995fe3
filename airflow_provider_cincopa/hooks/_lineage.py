"""
Hook-level lineage: what the hook read and wrote, told to Airflow's hook lineage collector.

TaskFlow code that calls the hook directly has no operator to report OpenLineage facets; the
collector is where the OpenLineage provider (and any other hook lineage reader) looks then. An
upload reports the file or object as input and ``cincopa://asset/<rid>`` as output, a URL import
the URL (without its user part, query or fragment: they may hold a password or a signature) as
input, a download the asset as input and the file or object as output.

Off for a hook when its ``lineage`` attribute is False, or, when that is None (the default), when
its connection's extra says ``"lineage": false``. The operators that report their own facets
(``CincopaUploadFileOperator``, ``CincopaUploadFromUrlOperator``) turn it off for their hook, so
nothing is reported twice. Without a collector (no Airflow lineage module) nothing is reported.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_cincopa.assets import asset_uri
from airflow_provider_cincopa.exceptions import CincopaInputError

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks._transport import ConnectionSettings

log = logging.getLogger(__name__)

#: How the connection extra ``lineage`` may be written (the JSON form gives a bool, the URI form a string).
_SWITCH = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


class LineageHost(Protocol):
    """What lineage needs of the hook: its own switch and its connection's settings."""

    lineage: bool | None

    @property
    def settings(self) -> ConnectionSettings: ...


def lineage_enabled(hook: LineageHost) -> bool:
    """
    Whether ``hook`` reports lineage: its ``lineage`` attribute, else its connection's ``lineage`` extra (default on).
    """
    return hook.settings.lineage if hook.lineage is None else bool(hook.lineage)


def lineage_switch(value: object, conn_id: str) -> bool:
    """
    The connection extra ``lineage`` as a bool (the JSON form gives a bool, the URI form a string).

    :raises CincopaInputError: the extra is neither a boolean nor one of ``true``/``false``,
        ``1``/``0``, ``yes``/``no``, ``on``/``off``.
    """
    if isinstance(value, bool):
        return value
    switch = _SWITCH.get(str(value).strip().lower())
    if switch is None:
        raise CincopaInputError(f"The cincopa connection {conn_id!r} has extra lineage={value!r}: use true or false")
    return switch


def source_uri(source: object) -> str:
    """
    The URI a file, object or URL is known by in lineage: ``file:///abs/path``, ``s3://bucket/key``...

    The user part (a password, an Airflow connection id), the query and the fragment are left out.

    :param source: a local path, a URL or an ``ObjectStoragePath``.
    """
    text = str(source)  # an ObjectStoragePath's str() keeps its protocol, os.fspath() does not
    parts = urlsplit(text)
    if len(parts.scheme) <= 1:  # a plain path (a Windows drive letter is no scheme either)
        return f"file://{os.path.abspath(text)}"
    if parts.scheme == "file":
        return f"file://{os.path.abspath(parts.path)}"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def report(hook: object, *, inputs: list[str], outputs: list[str]) -> None:
    """
    Hand ``inputs`` and ``outputs`` (URIs) to the hook lineage collector, with ``hook`` as the context.

    A URI no installed provider accepts is dropped by the collector itself; lineage never fails a task.
    """
    collector = _collector()
    if collector is None:
        return
    try:
        for uri in inputs:
            collector.add_input_asset(context=hook, uri=uri)
        for uri in outputs:
            collector.add_output_asset(context=hook, uri=uri)
    except Exception as exc:  # lineage is a by-product: the upload or download itself succeeded
        log.warning("Could not report lineage: %s", type(exc).__name__)


def report_upload(hook: object, source: object, rid: str) -> None:
    """An upload from ``source`` (a file, an object or a URL) made the asset ``rid``."""
    report(hook, inputs=[source_uri(source)], outputs=[asset_uri(rid)])


def report_url_import(hook: object, url: str) -> None:
    """An import from ``url`` started; :func:`report_asset_made` names the asset once it exists."""
    report(hook, inputs=[source_uri(url)], outputs=[])


def report_asset_made(hook: object, rid: str) -> None:
    """An import (or another way than :func:`report_upload`'s) made the asset ``rid``."""
    report(hook, inputs=[], outputs=[asset_uri(rid)])


def report_download(hook: object, rid: str, destination: str) -> None:
    """The asset ``rid`` was downloaded to ``destination`` (a path or an object-storage URI)."""
    report(hook, inputs=[asset_uri(rid)], outputs=[source_uri(destination)])


def _collector() -> Any:
    # common.compat's getter smooths over what each Airflow 3 release's collector lacks; the
    # SDK's (3.2+) and the core one (3.0, 3.1) are there for an install without it.
    try:
        from airflow.providers.common.compat.lineage.hook import get_hook_lineage_collector
    except ImportError:
        try:
            from airflow.sdk.lineage import get_hook_lineage_collector
        except ImportError:
            try:
                from airflow.lineage.hook import get_hook_lineage_collector  # type: ignore[no-redef]
            except ImportError:
                return None
    return get_hook_lineage_collector()
