"""Operators that move media out of Cincopa: one version of an asset, a whole library, and back in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.hooks._download import check_if_exists
from airflow_provider_cincopa.links.cincopa import CincopaAssetLink, remember_asset
from airflow_provider_cincopa.operators._ingest import file_dataset
from airflow_provider_cincopa.operators.cincopa import _CincopaOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["CincopaDownloadAssetOperator", "CincopaExportAssetsOperator", "CincopaRestoreAssetsOperator"]


class CincopaDownloadAssetOperator(_CincopaOperator):
    """
    Download one version of an asset to a local path or any object-storage URI.

    The bytes are streamed from Cincopa's CDN in bounded reads and written as they arrive, with
    their sha256; a dropped connection, a timeout or a 5xx resumes from the byte reached with a
    ``Range`` request (the connection's ``retries`` and ``retry_deadline``). The file must end at
    the version's ``filesize``. Nothing half-written is ever at ``destination_path``: a temporary
    name (or a multipart upload) is renamed (completed) only once the file is whole.

    Returns (XCom) ``{"rid", "version", "uri", "size", "sha256", "skipped"}``; ``sha256`` is None on
    a skip of an object-storage destination, where reading it back would cost a download.

    :param rid: the asset. (templated)
    :param destination_path: a file path or URI (``s3://bucket/key``); one ending in ``/`` is a
        folder, where the file takes the version's file name, made safe. (templated)
    :param version: a version key (``original``, ``mp4_hd``, ``jpg_600x450``...) or a list of
        keys, best first: the first the asset has wins. HLS versions (``ts_*``) are refused. (templated)
    :param destination_conn_id: the Airflow connection object storage writes with.
    :param if_exists: ``"overwrite"`` (default); ``"skip"``: a destination of the expected size is
        kept and the CDN is not asked at all (another size is downloaded again); ``"fail"``.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("rid", "destination_path", "version")
    operator_extra_links = (CincopaAssetLink(),)

    def __init__(
        self,
        *,
        rid: str,
        destination_path: str,
        version: str | list[str] = "original",
        destination_conn_id: str | None = None,
        if_exists: str = "overwrite",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_if_exists(if_exists, f"Task {self.task_id!r}: ")
        self.rid = rid
        self.destination_path = destination_path
        self.version = version
        self.destination_conn_id = destination_conn_id
        self.if_exists = if_exists
        self._lineage: tuple[str, str] | None = None

    def execute(self, context: Context) -> dict[str, Any]:
        """Download (or skip), record the asset for the task's link, return the result."""
        try:
            result = self.hook.download_version(
                self.rid,
                self.destination_path,
                version=self.version,
                destination_conn_id=self.destination_conn_id,
                if_exists=self.if_exists,
            )
        finally:
            self.hook.close_downloads()
        remember_asset(context, result.rid)
        self._lineage = (result.rid, result.uri)
        return result.to_dict()

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """Input: ``cincopa://asset/<rid>``; output: the file or object written."""
        from airflow.providers.common.compat.openlineage.facet import Dataset
        from airflow.providers.openlineage.extractors import OperatorLineage

        if self._lineage is None:
            return OperatorLineage()
        rid, uri = self._lineage
        namespace, name = file_dataset(uri)
        return OperatorLineage(
            inputs=[Dataset(namespace="cincopa://asset", name=rid)], outputs=[Dataset(namespace=namespace, name=name)]
        )


class CincopaExportAssetsOperator(_CincopaOperator):
    """
    Export every matching asset, with its metadata, to a folder or bucket: incrementally.

    Each asset goes to ``<destination_path>/<rid>/<filename>``, and ``manifest.jsonl`` lists one
    JSON object per asset (``rid``, ``filename``, ``caption``, ``description``,
    ``long_description``, ``tags``, ``reference_id``, ``type``, ``modified``, ``version``,
    ``size``, ``sha256``, ``path``...). A second run downloads only assets that are new or whose
    ``modified`` or size changed: an unchanged library costs no CDN request. A killed or retried
    export keeps what it finished (a journal beside the manifest). Memory stays bounded whatever
    the library's size. See :mod:`airflow_provider_cincopa.hooks._library`.

    Returns (XCom) ``{"exported", "skipped", "bytes", "manifest"}``.

    :param destination_path: a folder or a bucket prefix (``s3://bucket/backup/``). (templated)
    :param destination_conn_id: the Airflow connection object storage writes with.
    :param search: only assets ``asset.list``'s ``search`` matches. (templated)
    :param tag: only assets with this tag. (templated)
    :param versions: the version key, or keys best first, to export of each asset; assets with
        none of them (or an HLS one first) are skipped with a warning. (templated)
    :param max_parallel_downloads: downloads in flight at once (default 4).
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("destination_path", "search", "tag", "versions")

    def __init__(
        self,
        *,
        destination_path: str,
        destination_conn_id: str | None = None,
        search: str | None = None,
        tag: str | None = None,
        versions: str | list[str] = "original",
        max_parallel_downloads: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not isinstance(max_parallel_downloads, int) or max_parallel_downloads < 1:
            raise CincopaInputError(
                f"Task {self.task_id!r}: max_parallel_downloads must be a whole number >= 1, "
                f"got {max_parallel_downloads!r}"
            )
        self.destination_path = destination_path
        self.destination_conn_id = destination_conn_id
        self.search = search
        self.tag = tag
        self.versions = versions
        self.max_parallel_downloads = max_parallel_downloads

    def execute(self, context: Context) -> dict[str, Any]:
        """Export, then say what moved."""
        try:
            result = self.hook.export_assets(
                self.destination_path,
                destination_conn_id=self.destination_conn_id,
                search=self.search,
                tag=self.tag,
                versions=self.versions,
                max_parallel_downloads=self.max_parallel_downloads,
            )
        finally:
            self.hook.close_downloads()
        self.log.info(
            "Exported %d assets (%d bytes), %d unchanged or skipped; manifest %s",
            result.exported,
            result.bytes,
            result.skipped,
            result.manifest,
        )
        return result.to_dict()


class CincopaRestoreAssetsOperator(_CincopaOperator):
    """
    Upload what an export's manifest lists and Cincopa no longer has, with its metadata.

    Each entry's file is uploaded through the upload engine (parallel chunks, resume) and its
    caption, descriptions, tags and reference id set. Entries whose asset still exists (its rid,
    or an asset with its ``reference_id``) are skipped, and a log beside the manifest (old rid ->
    new rid) makes a re-run restore only what is still missing.

    Returns (XCom) ``{"restored", "skipped"}``.

    :param manifest_path: the export's ``manifest.jsonl`` (a path or URI). (templated)
    :param source_conn_id: the Airflow connection object storage reads (and logs) with.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("manifest_path",)

    def __init__(self, *, manifest_path: str, source_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.manifest_path = manifest_path
        self.source_conn_id = source_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        """Restore, then say what moved."""
        result = self.hook.restore_assets(self.manifest_path, source_conn_id=self.source_conn_id)
        self.log.info("Restored %d assets; %d were still there", result.restored, result.skipped)
        return result.to_dict()
