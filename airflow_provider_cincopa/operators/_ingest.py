"""What the asset operators share: the metadata fields, ``if_exists``, outlet events (Assets and aliases), lineage."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetAlias, BaseOperator

from airflow_provider_cincopa.assets import asset_uri
from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.hooks._metadata import META_FIELDS, is_literal, meta_values
from airflow_provider_cincopa.links.cincopa import remember_asset
from airflow_provider_cincopa.types import IfExists, if_exists_rule

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context


class CincopaAssetMetaMixin(BaseOperator):
    """
    The seven ``asset.set_meta`` fields (``META_FIELDS``) as keyword arguments and attributes.

    An operator lists ``*META_FIELDS`` in its ``template_fields`` and documents the fields in its
    own docstring. A ``BaseOperator`` subclass rather than a plain mixin: Airflow's metaclass wraps
    its ``__init__``, so ``default_args`` fill these fields and ``partial()``/``expand()`` accept
    them, as when each operator named them in its own signature.

    The fields are checked by the hook's rules (:func:`~airflow_provider_cincopa.hooks._metadata.meta_values`)
    twice before anything is sent: the values written in the DAG file when the operator is built
    (so a DAG with a dict caption does not even parse), the templated ones once rendered.
    """

    def __init__(
        self,
        *,
        caption: str | None = None,
        description: str | None = None,
        long_description: str | None = None,
        tags: str | list[str] | None = None,
        reference_id: str | None = None,
        related_link_text: str | None = None,
        related_link_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.caption = caption
        self.description = description
        self.long_description = long_description
        self.tags = tags
        self.reference_id = reference_id
        self.related_link_text = related_link_text
        self.related_link_url = related_link_url
        self._check_meta(rendered=False)

    def asset_meta(self) -> dict[str, Any]:
        """The fields that are set (not None), as the hook's ``set_meta`` takes them."""
        return {name: getattr(self, name) for name in META_FIELDS if getattr(self, name) is not None}

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render, then check the metadata as rendered: before any byte is uploaded."""
        super().render_template_fields(context, jinja_env)
        self._check_meta(rendered=True)

    def _check_meta(self, *, rendered: bool) -> None:
        given = {name: value for name, value in self.asset_meta().items() if rendered or is_literal(value)}
        if given:
            meta_values(given, allowed=META_FIELDS, what=f"Task {self.task_id!r}")


def check_if_exists(if_exists: str, reference_id: str | None, task_id: str) -> IfExists:
    """Refuse, when the DAG is parsed, an ``if_exists`` that cannot work; return its rule."""
    try:
        rule = if_exists_rule(if_exists)
    except CincopaInputError as exc:
        raise CincopaInputError(f"Task {task_id!r}: {exc}") from None
    if rule != "create" and not reference_id:
        raise CincopaInputError(
            f"Task {task_id!r}: if_exists={if_exists!r} looks the asset up by its reference_id: "
            "give reference_id too (or use if_exists='create')"
        )
    return rule


def emit_outlet_events(operator: BaseOperator, context: Context, rid: str, **extra: Any) -> None:
    """
    Tell Airflow which media item the task made or found.

    Every ``Asset`` outlet's event gets the rid (and ``extra``) in its extra; every ``AssetAlias``
    outlet gets ``Asset("cincopa://asset/<rid>")``, so each media item becomes an Airflow Asset.
    """
    remember_asset(context, rid)  # the task's "Cincopa asset" link opens it
    extra = {"rid": rid, **extra}
    for outlet in operator.outlets:
        if isinstance(outlet, Asset):
            context["outlet_events"][outlet].extra.update(extra)
        elif isinstance(outlet, AssetAlias):
            context["outlet_events"][outlet].add(Asset(asset_uri(rid)), extra=extra)


class CincopaLineageMixin:
    """
    OpenLineage facets for an operator that made or found ``self._lineage_rid``.

    The OpenLineage provider calls :meth:`get_openlineage_facets_on_complete` when it is
    installed; without it nothing here is imported.
    """

    _lineage_rid: str | None = None

    def _lineage_input(self) -> tuple[str, str] | None:
        """``(namespace, name)`` of what the task read; None when there is nothing to name."""
        raise NotImplementedError

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Input: the source file, object or URL host; output: ``cincopa://asset/<rid>``."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        source = self._lineage_input()
        inputs = [Dataset(namespace=source[0], name=source[1])] if source else []
        outputs = [Dataset(namespace="cincopa://asset", name=self._lineage_rid)] if self._lineage_rid else []
        return OperatorLineage(inputs=inputs, outputs=outputs)


def file_dataset(source: Any) -> tuple[str, str]:
    """OpenLineage's naming of a local file (``file``, its absolute path) or an object (``s3://bucket``, key)."""
    text = str(source)
    parts = urlsplit(text)
    if parts.scheme in ("", "file"):
        import os

        return "file", os.path.abspath(parts.path if parts.scheme else text)
    # The bucket without any user part: ``s3://KEY:SECRET@bucket`` names a credential.
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", parts.path.lstrip("/")


def url_dataset(url: str) -> tuple[str, str]:
    """A URL by its scheme and host, and its path: never its query, which may hold a signature."""
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.hostname or ''}", parts.path.lstrip("/") or "/"
