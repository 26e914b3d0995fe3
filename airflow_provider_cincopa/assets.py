"""Cincopa assets as Airflow Assets: the ``cincopa://asset/<rid>`` URI scheme.

Registered under ``asset-uris`` in :func:`airflow_provider_cincopa.get_provider_info`, so Airflow
checks every ``Asset("cincopa://...")`` with :func:`sanitize_uri` when a DAG is parsed, and the
OpenLineage provider names the same media item the same way (:func:`convert_asset_to_openlineage`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult

if TYPE_CHECKING:
    from airflow.sdk import Asset

SCHEME = "cincopa"
#: Rids are short letters-digits-dash-underscore strings (``0a1B2c3D`` on the wire).
_RID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def asset_uri(rid: str) -> str:
    """The Airflow Asset URI of a Cincopa asset: ``cincopa://asset/<rid>``."""
    if not _RID.fullmatch(str(rid or "")):
        raise ValueError(f"{rid!r} is not a Cincopa rid (letters, digits, '-' and '_')")
    return f"{SCHEME}://asset/{rid}"


def sanitize_uri(uri: SplitResult) -> SplitResult:
    """
    Accept ``cincopa://asset/<rid>`` and nothing else of the scheme (Airflow's ``asset-uris`` handler).

    :param uri: the URI Airflow split (scheme lower-cased, trailing slashes and fragment removed).
    :raises ValueError: naming what is wrong, which Airflow reports when the DAG is parsed.
    """
    shown = uri.geturl()
    if uri.netloc != "asset":
        raise ValueError(f"A Cincopa asset URI is cincopa://asset/<rid>, not {shown!r}: the host must be 'asset'")
    rid = uri.path.removeprefix("/")
    if not _RID.fullmatch(rid):
        raise ValueError(
            f"A Cincopa asset URI is cincopa://asset/<rid>, not {shown!r}: {rid!r} is not a rid "
            "(letters, digits, '-' and '_', one path segment)"
        )
    if uri.query:
        raise ValueError(f"A Cincopa asset URI takes no query string: {shown!r}")
    return uri


def rid_of(uri: str) -> str:
    """The rid in a ``cincopa://asset/<rid>`` URI (for a DAG reading its triggering asset events)."""
    from urllib.parse import urlsplit

    return sanitize_uri(urlsplit(uri)).path.removeprefix("/")


def convert_asset_to_openlineage(asset: Asset, lineage_context: Any) -> Any:
    """An OpenLineage dataset for ``cincopa://asset/<rid>``: namespace ``cincopa://asset``, name the rid."""
    from airflow.providers.common.compat.openlineage.facet import Dataset

    namespace, _, name = asset.uri.rpartition("/")
    return Dataset(namespace=namespace, name=name)
