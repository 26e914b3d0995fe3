"""The hook's asset methods: list, metadata, delete, uploads and imports from a URL."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qsl, urlencode, urlsplit

from airflow_provider_cincopa.exceptions import (
    CincopaApiError,
    CincopaAssetExistsError,
    CincopaError,
    CincopaInputError,
    CincopaMetadataRefusedError,
    CincopaResponseError,
    CincopaUploadFromUrlError,
)
from airflow_provider_cincopa.hooks import _answers
from airflow_provider_cincopa.hooks._api import CincopaAPI, page_of
from airflow_provider_cincopa.hooks._lineage import (
    lineage_enabled,
    report_asset_made,
    report_upload,
    report_url_import,
)
from airflow_provider_cincopa.hooks._metadata import META_FIELDS, meta_values
from airflow_provider_cincopa.hooks._params import check_positive, comma_list, required, rid_list
from airflow_provider_cincopa.hooks._transport import TransientError
from airflow_provider_cincopa.redaction import printable, redact, register_secret, register_url_secrets
from airflow_provider_cincopa.types import (
    AssetSyncStatus,
    PlaybackLinks,
    UploadFromUrlStatus,
    UploadResult,
    VersionLink,
    if_exists_rule,
)

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_cincopa.hooks.upload import ProgressCallback, ResumeState, UploadingHost

__all__ = ["META_FIELDS", "AssetsAPI", "register_upload_url"]

log = logging.getLogger(__name__)


# Playback hosts and the version priority list, as the media-platform page gives them ("Get a
# direct link to a video asset"). They are Cincopa's public hosts, not the API base URL: the
# links work in a player whatever API (or emulator) the connection names.
HLS_MANIFEST_URL = "https://rtcdn.cincopa.com/m3u8.aspx"
VERSION_URL = "https://www.cincopa.com/media-platform/api/get_version_url.aspx"
#: The page's example ``ver`` list, verbatim (it spells ``ts_1080`` and ``ts_480`` where its
#: ``asset.list`` sample has ``ts_480p``): Cincopa returns the first version of the list that exists.
DEFAULT_VERSION_PRIORITY = ("ts_1080", "ts_720p", "ts_540p", "ts_480", "ts_360p", "mp4_hd", "ts_240p", "ts_144p")


def register_upload_url(url: str) -> None:
    """Register the secret parts of an upload URL (its ``hash``) with the secrets masker."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key.lower() in ("hash", "d"):
            register_secret(value)


class AssetsAPI(CincopaAPI):
    """``asset.*``: the media items of the account."""

    #: Report uploads, imports and downloads to Airflow's hook lineage collector: None follows the
    #: connection's ``lineage`` extra (default on); True or False decides for this hook.
    lineage: bool | None = None

    def list_assets(
        self,
        *,
        search: str | None = None,
        rid: str | list[str] | None = None,
        reference_id: str | None = None,
        tag: str | None = None,
        type: str | None = None,
        items_per_page: int = 100,
        details: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """
        Iterate lazily over every asset that matches, fetching one page at a time.

        :param search: free text matched against caption, file name and description.
        :param rid: one rid or several.
        :param reference_id: your own id set with :meth:`set_meta`.
        :param tag: a tag.
        :param type: ``video``, ``image``, ``audio``...
        :param items_per_page: page size.
        :param details: Cincopa's ``details`` flag, passed as is.
        """
        check_positive(items_per_page, "items_per_page", allow_zero=False)
        params = {
            "search": search,
            "rid": None if rid is None else ",".join(rid_list(rid, "rid")),
            "reference_id": reference_id,
            "tag": tag,
            "type": type,
            "details": details,
            "items_per_page": items_per_page,
        }
        yield from self._pages("asset.list", params, "items")

    async def alist_assets_page(
        self,
        *,
        page: int = 1,
        items_per_page: int = 100,
        rid: str | list[str] | None = None,
        search: str | None = None,
        tag: str | None = None,
        type: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """
        One page of ``asset.list``, async (httpx, one attempt), for triggers.

        :param page: the page, from 1.
        :param items_per_page: page size.
        :param rid: one rid or several.
        :param search: free text matched against caption, file name and description.
        :param tag: a tag.
        :param type: ``video``, ``image``, ``audio``...
        :return: the page's items and how many pages there are.
        """
        check_positive(items_per_page, "items_per_page", allow_zero=False)
        rids = None if rid is None else ",".join(rid_list(rid, "rid"))
        params: dict[str, Any] = {"rid": rids, "search": search, "tag": tag, "type": type}
        params.update(page=page, items_per_page=items_per_page)
        return page_of("asset.list", await self.acall("asset.list", params), "items")

    def get_asset(self, rid: str) -> dict[str, Any]:
        """
        Return one asset, or raise :class:`~airflow_provider_cincopa.exceptions.CincopaApiError` naming the unknown rid.
        """
        for item in self.list_assets(rid=rid, items_per_page=1):
            if item.get("rid") == rid:
                return item
        raise CincopaApiError(f"No Cincopa asset has rid {rid!r}", method="asset.list")

    async def aget_asset(self, rid: str) -> dict[str, Any]:
        """The async twin of :meth:`get_asset`, for triggers (httpx, one attempt)."""
        item = _listed(rid, await self.acall("asset.list", _one_asset_query(rid)))
        if item is None:
            raise CincopaApiError(f"No Cincopa asset has rid {rid!r}", method="asset.list")
        return item

    def get_asset_sync_status(self, rid: str) -> AssetSyncStatus:
        """
        Whether an asset's versions are ready: its ``syncstatus`` in ``asset.list``.

        :param rid: the asset.
        :return: ``synced``, ``failed``, ``pending`` or ``missing`` (no asset has this rid), with
            the asset's item (versions included) when it exists.
        """
        return AssetSyncStatus.from_item(rid, _listed(rid, self.call("asset.list", _one_asset_query(rid))))

    async def aget_asset_sync_status(self, rid: str) -> AssetSyncStatus:
        """The async twin of :meth:`get_asset_sync_status`, for triggers (httpx, one attempt)."""
        return AssetSyncStatus.from_item(rid, _listed(rid, await self.acall("asset.list", _one_asset_query(rid))))

    def asset_exists(self, rid: str) -> bool:
        """True when an asset with this rid exists."""
        return any(item.get("rid") == rid for item in self.list_assets(rid=rid, items_per_page=1))

    def find_assets_by_reference_id(self, reference_id: str) -> list[dict[str, Any]]:
        """
        Every asset whose ``reference_id`` is exactly this one (``asset.list`` filtered by it).

        Cincopa does not keep reference ids unique: a list of several means they were set twice.

        :param reference_id: your own id, as set with :meth:`set_meta`.
        """
        wanted = str(required(reference_id, "reference_id"))
        # Filtered again here: the filter's matching rules (exact? prefix?) are not documented.
        return [item for item in self.list_assets(reference_id=wanted) if item.get("reference_id") == wanted]

    def get_tags(self) -> dict[str, int | None]:
        """
        Every tag in the account with how many assets carry it (``asset.get_tags``).

        ``tag_cloud`` is read as a mapping or as a list (see
        :func:`airflow_provider_cincopa.hooks._answers.tag_cloud`); a tag listed without a count
        maps to None.
        """
        return _answers.tag_cloud(self.call("asset.get_tags").get("tag_cloud"))

    def get_playback_links(
        self, rid: str, *, version_priority: str | list[str] | tuple[str, ...] | None = None
    ) -> PlaybackLinks:
        """
        An asset's HLS manifest and direct version links (media-platform page, "Get a direct link").

        One ``asset.list`` call reads the asset's ``versions``; the links are built from the rid
        and the version keys only, so they carry no secret. Versions Cincopa is still making are
        missing until ``syncstatus`` is ``synced``.

        :param rid: the asset.
        :param version_priority: the ``ver`` list of ``direct_url``, best first (a list or a comma
            string); default the page's example list, 1080p HLS down to 144p.
        :return: :class:`~airflow_provider_cincopa.types.PlaybackLinks`; ``to_dict()`` for XCom.
        """
        asset = self.get_asset(required(rid, "rid"))
        priority = comma_list(version_priority) if version_priority is not None else ",".join(DEFAULT_VERSION_PRIORITY)
        if not priority:
            raise CincopaInputError("version_priority is empty: name at least one version, e.g. ts_720p")
        kind = str(asset.get("type") or "")
        return PlaybackLinks(
            rid=rid,
            type=kind,
            syncstatus=str(asset.get("syncstatus") or ""),
            hls_url=f"{HLS_MANIFEST_URL}?{urlencode({'rid': rid})}" if kind == "video" else None,
            direct_url=f"{VERSION_URL}?{urlencode({'rid': rid, 'ver': priority}, safe=',')}",
            versions=_version_links(rid, asset.get("versions")),
        )

    def set_meta(self, rid: str, **fields: Any) -> dict[str, Any]:
        """
        Set an asset's metadata (``asset.set_meta``).

        :param rid: the asset.
        :param fields: any of caption, description, long_description, related_link_text,
            related_link_url, reference_id, tags (a list or a comma string).
        """
        values = meta_values(fields, allowed=META_FIELDS, what=f"asset.set_meta on asset {rid!r}")
        answer = self.call("asset.set_meta", {"rid": required(rid, "rid"), **values}, http_method="POST")
        log.info("Set %s on asset %s", ", ".join(sorted(values)), printable(rid))
        return answer

    def set_meta_after_upload(self, rid: str, *, retry_finds_asset: bool = False, **fields: Any) -> None:
        """
        Set the metadata of an asset this task has just made, so that no failure costs a second asset.

        A retry of a task that cannot find the asset it made would upload the file (or import the
        URL) again. So a failure raises
        :class:`~airflow_provider_cincopa.exceptions.CincopaMetadataRefusedError`, which names the
        asset and fails the task without using its retries; only a transient failure (network,
        HTTP 429/5xx, after this call's own retries) is raised as it is when
        ``retry_finds_asset`` says the task's retry adopts the asset (crash-safe uploads and
        imports on Airflow 3.3+). A refusal (HTTP 400/414, ``success: false``) never gets better
        with a retry. Validate the fields before uploading (:meth:`set_meta` refuses the same
        ones before sending) to make it rare. When ``reference_id`` is set, a warning names every
        other asset that carries it too (two tasks raced).

        :param rid: the asset just made.
        :param retry_finds_asset: True when a retry of the task finds this asset instead of
            making another.
        :param fields: as for :meth:`set_meta`.
        """
        try:
            self.set_meta(rid, **fields)
        except CincopaError as exc:
            if retry_finds_asset and isinstance(exc, TransientError):
                raise
            raise CincopaMetadataRefusedError(
                f"Asset {rid} was made, but setting its {', '.join(sorted(fields))} failed: {redact(exc)}. "
                f"Not retrying, as a retry would make a second asset: set the metadata of {rid} with "
                "CincopaSetAssetMetaOperator (or hook.set_meta) once the cause is fixed",
                rid=rid,
            ) from None
        reference_id = fields.get("reference_id")
        if reference_id is None:
            return
        try:
            found = self.find_assets_by_reference_id(str(reference_id))
        except CincopaError as exc:  # only a warning was at stake: never fail (and re-upload) for it
            log.warning("Could not check whether another asset carries reference_id too: %s", redact(exc))
            return
        others = [str(i.get("rid")) for i in found if i.get("rid") != rid]
        if others:
            log.warning(
                "Asset %s and %s all carry reference_id %s: another task uploaded the same item at the same time",
                rid,
                ", ".join(others),
                printable(repr(reference_id)),
            )

    def find_existing_asset(self, reference_id: str | None, *, if_exists: str = "reuse") -> str | None:
        """
        The rid of the asset that already carries ``reference_id``, as ``if_exists`` rules.

        :param reference_id: your own id; None finds nothing.
        :param if_exists: ``reuse`` (``skip``) returns the first asset ``asset.list`` gives, with a
            warning when several carry it (Cincopa does not keep reference ids unique); ``fail``
            raises :class:`~airflow_provider_cincopa.exceptions.CincopaAssetExistsError` naming
            them; ``create`` (``upload``) does not look.
        :return: the rid, or None when nothing carries it (or nothing was looked for).
        """
        rule = if_exists_rule(if_exists)
        if rule == "create" or not reference_id:
            return None
        shown = printable(repr(reference_id))
        rids = [str(item["rid"]) for item in self.find_assets_by_reference_id(reference_id) if item.get("rid")]
        if not rids:
            log.info("No Cincopa asset has reference_id %s yet", shown)
            return None
        if rule == "fail":
            raise CincopaAssetExistsError(
                f"An asset with reference_id {shown} already exists: {', '.join(rids)} (if_exists='fail')",
                rids=rids,
            )
        if len(rids) > 1:
            log.warning("Several assets carry reference_id %s: %s; using %s", shown, ", ".join(rids), rids[0])
        log.info("Asset %s already has reference_id %s: reusing it (if_exists=%r)", rids[0], shown, if_exists)
        return rids[0]

    def resync_asset(self, rid: str) -> dict[str, Any]:
        """Ask Cincopa to regenerate missing versions of an asset (``asset.resync``)."""
        return self.call("asset.resync", {"rid": required(rid, "rid")}, http_method="POST")

    def delete_asset(self, rid: str, *, missing_ok: bool = False) -> bool:
        """
        Delete an asset for good (``asset.delete``).

        :param rid: the asset.
        :param missing_ok: return False instead of raising when no asset has this rid.
        :return: True when deleted, False when it was already gone and ``missing_ok``.
        """
        try:
            self.call("asset.delete", {"rid": required(rid, "rid")}, http_method="POST")
        except CincopaApiError:
            # Cincopa's refusal text is not a stable contract: ask whether the asset exists instead.
            if missing_ok and not self.asset_exists(rid):
                return False
            raise
        return True

    def get_upload_url(
        self,
        *,
        gallery_fid: str | None = None,
        attach_to_rid: str | None = None,
        attach_type: str | None = None,
        ttl: int | None = None,
        sourceip: str | None = None,
    ) -> str:
        """
        Get a URL to POST a file to (``asset.get_upload_url``).

        :param gallery_fid: add the new asset to this gallery.
        :param attach_to_rid: attach the file to this asset instead (needs ``attach_type``).
        :param attach_type: what the attached file is, e.g. ``thumb`` or ``subtitle-en-us``.
        :param ttl: how long the URL stays valid, in seconds.
        :param sourceip: the only IPv4 address allowed to use it.
        :return: the URL; its ``hash`` is a secret and is registered with the secrets masker.
        """
        if bool(attach_to_rid) != bool(attach_type):
            raise CincopaInputError("attach_to_rid and attach_type go together: give both or neither")
        check_positive(ttl, "ttl")
        params = {
            "fid": gallery_fid,
            "rid": attach_to_rid,
            "type": attach_type,
            "ttl": ttl,
            "sourceip": sourceip,
        }
        url = str(self.call("asset.get_upload_url", params).get("upload_url") or "")
        if not url.startswith(("http://", "https://")):
            raise CincopaResponseError(
                "Cincopa's answer to asset.get_upload_url has no upload_url", method="asset.get_upload_url"
            )
        register_upload_url(url)
        return url

    def upload_file(
        self: UploadingHost,
        source: str | ObjectStoragePath,
        *,
        gallery_fid: str | None = None,
        attach_to_rid: str | None = None,
        attach_type: str | None = None,
        filename: str | None = None,
        chunk_size: int | None = None,
        max_parallel_chunks: int | None = None,
        progress_callback: ProgressCallback | None = None,
        source_conn_id: str | None = None,
        resume: ResumeState | None = None,
        on_state: Callable[[ResumeState], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> UploadResult:
        """
        Upload a local or object-storage file to Cincopa, streamed in ranged reads.

        Files up to one chunk go in one request; larger ones in chunks, several in flight at
        once. Failed chunks are retried with backoff; an answer containing ``error`` stops the
        upload at once.

        :param source: a local path, a URL Airflow's object storage reads (``s3://...``,
            ``file://...``) or an ``ObjectStoragePath``.
        :param gallery_fid: add the new asset to this gallery.
        :param attach_to_rid: attach the file to this asset instead (needs ``attach_type``).
        :param attach_type: e.g. ``thumb``.
        :param filename: the name Cincopa shows; default the source's name.
        :param chunk_size: bytes per request (default: 16 to 47 MiB by the file's size).
        :param max_parallel_chunks: the most chunks in flight (default: the connection extra
            ``max_parallel_chunks``, else 4); one sends at a time
            (the next starting while the host answers) where one already moves 200 MB/s or more
            (see ``hooks/_parallel.py``).
        :param progress_callback: called as ``callback(bytes_done, total_bytes)`` after each chunk.
        :param source_conn_id: the Airflow connection object storage uses to read ``source``.
        :param resume: the state a previous try saved through ``on_state``: only its missing
            ranges are sent.
        :param on_state: called with the resume state when the upload starts and after each chunk.
        :param cancel: an event that stops the upload when set (from ``on_kill``, say).
        """
        from airflow_provider_cincopa.hooks.upload import ChunkedUpload

        if max_parallel_chunks is None:  # an explicit argument wins over the connection's extra
            max_parallel_chunks = self.settings.max_parallel_chunks
        report_lineage = lineage_enabled(self)
        upload = ChunkedUpload(
            self,
            source,
            source_conn_id=source_conn_id,
            filename=filename,
            chunk_size=chunk_size,
            max_parallel_chunks=max_parallel_chunks,
            progress_callback=progress_callback,
            cancel=cancel,
        )
        result = upload.run(
            lambda: self.get_upload_url(gallery_fid=gallery_fid, attach_to_rid=attach_to_rid, attach_type=attach_type),
            resume=resume,
            on_state=on_state,
        )
        if report_lineage:
            report_upload(self, source, result.rid)
        return result

    def upload_from_url(
        self,
        url: str,
        *,
        gallery_fid: str | None = None,
        attach_to_rid: str | None = None,
        attach_type: str | None = None,
    ) -> str:
        """
        Start importing a file from a URL (``asset.upload_from_url``).

        Not retried once the request may have reached Cincopa: a retry could start a second import.

        :param url: an ``http(s)://`` URL Cincopa can download.
        :param gallery_fid: add the new asset to this gallery.
        :param attach_to_rid: attach the file to this asset instead (needs ``attach_type``).
        :param attach_type: e.g. ``thumb``.
        :return: the ``status_id`` to poll.
        """
        register_url_secrets(url)  # a signed URL's signature, a password in it: never in a log line
        parts = urlsplit(str(url or ""))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CincopaInputError(
                f"Cincopa can only import from an http(s) URL, not {redact(url)!r}; upload local or "
                "object-storage files with upload_file instead"
            )
        if bool(attach_to_rid) != bool(attach_type):
            raise CincopaInputError("attach_to_rid and attach_type go together: give both or neither")
        report_lineage = lineage_enabled(self)
        params = {"input": url, "fid": gallery_fid, "rid": attach_to_rid, "type": attach_type}
        answer = self.call("asset.upload_from_url", params, http_method="POST", idempotent=False)
        # The answer names it `status_id`, not `id` (wire-protocol page, seen in vendor code).
        status_id = str(answer.get("status_id") or "")
        if not status_id:
            raise CincopaResponseError(
                "Cincopa's answer to asset.upload_from_url has no status_id", method="asset.upload_from_url"
            )
        if report_lineage:  # the asset, once the import made it: wait_for_upload_from_url
            report_url_import(self, url)
        return status_id

    def get_upload_from_url_status(self, status_id: str) -> UploadFromUrlStatus:
        """
        Poll an import (``asset.upload_from_url_get_status``), normalised to running/done/failed.

        Guess: only ``inprogress`` has been seen on the wire. An import counts as done once
        ``resid`` names the new asset (or ``status`` is ``ready``, ``done``, ``complete``,
        ``completed`` or ``success``) and as failed on ``failed``, ``error`` or ``aborted``; these
        values live in :mod:`airflow_provider_cincopa.types` alone.
        """
        answer = self.call("asset.upload_from_url_get_status", {"status_id": required(status_id, "status_id")})
        return UploadFromUrlStatus.from_answer(status_id, answer)

    def wait_for_upload_from_url(
        self,
        status_id: str,
        *,
        poll_interval: float = 15.0,
        timeout: float | None = 3600.0,
        abort_on_timeout: bool = True,
    ) -> str:
        """
        Poll an import until it ends, here in this process, and return the rid of the asset it made.

        :param status_id: the import, as :meth:`upload_from_url` returned it.
        :param poll_interval: seconds between two status calls.
        :param timeout: seconds to wait; None waits for as long as it takes.
        :param abort_on_timeout: abort the import in Cincopa when the wait times out.
        :raises CincopaUploadFromUrlError: the import failed, named no asset, or did not end in time.
        """
        check_positive(poll_interval, "poll_interval", allow_zero=False)
        check_positive(timeout, "timeout", allow_zero=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.get_upload_from_url_status(status_id)
            if status.is_terminal:
                rid = status.finished_rid()
                if lineage_enabled(self):
                    report_asset_made(self, rid)
                return rid
            if deadline is not None and time.monotonic() >= deadline:
                self.time_out_upload_from_url(status_id, timeout, abort=abort_on_timeout)
            log.info("Import %s: %s%% done", status_id, status.progress)
            time.sleep(poll_interval)

    def time_out_upload_from_url(self, status_id: str, timeout: float | None, *, abort: bool) -> NoReturn:
        """
        End a wait that took too long: abort the import (when ``abort``) and raise.

        :param status_id: the import.
        :param timeout: how long the wait was, for the message.
        :param abort: abort the import in Cincopa first.
        :raises CincopaUploadFromUrlError: always, saying whether the import was aborted.
        """
        if abort:
            self.abort_upload_from_url(status_id)
            log.warning("Aborted Cincopa import %s after %s s", status_id, timeout)
        raise CincopaUploadFromUrlError(
            f"Cincopa import {status_id} did not finish within {timeout} s"
            + (" and was aborted" if abort else "; it may still be running")
        )

    async def aget_upload_from_url_status(self, status_id: str) -> UploadFromUrlStatus:
        """The async twin of :meth:`get_upload_from_url_status`, for triggers (httpx, one attempt)."""
        params = {"status_id": required(status_id, "status_id")}
        return UploadFromUrlStatus.from_answer(status_id, await self.acall("asset.upload_from_url_get_status", params))

    async def aabort_upload_from_url(self, status_id: str) -> dict[str, Any]:
        """The async twin of :meth:`abort_upload_from_url`, for a trigger's ``on_kill``."""
        params = {"status_id": required(status_id, "status_id")}
        return await self.acall("asset.upload_from_url_abort", params, http_method="POST")

    def abort_upload_from_url(self, status_id: str) -> dict[str, Any]:
        """Stop a running import (``asset.upload_from_url_abort``)."""
        params = {"status_id": required(status_id, "status_id")}
        return self.call("asset.upload_from_url_abort", params, http_method="POST")


def _version_links(rid: str, versions: Any) -> dict[str, VersionLink]:
    # ``versions`` is a mapping keyed by version in the page's sample; a list of objects carrying
    # their key is accepted too (our guess at the other plausible shape).
    if isinstance(versions, list):
        versions = {str(v.get("key") or v.get("name")): v for v in versions if isinstance(v, dict)}
    if not isinstance(versions, dict):
        if versions not in (None, "", []):
            kind = type(versions).__name__
            _answers.log.warning("asset.list: versions of %s is a %s, not a mapping", printable(rid), kind)
        return {}
    links = {}
    for key, info in versions.items():
        info = info if isinstance(info, dict) else {}
        url = str(info.get("url") or "") or None
        if url and redact(url) != url:  # a signed CDN URL is a credential: never handed on
            shown = printable(key), printable(rid)
            _answers.log.warning("asset.list: version %s of %s has a URL with a secret in it; left out", *shown)
            url = None
        filesize = _answers.number(info.get("filesize"))
        links[str(key)] = VersionLink(
            key=str(key),
            name=str(info.get("name") or key),
            mime=str(info.get("mime") or ""),
            filesize=filesize,
            url=url,
            direct_url=f"{VERSION_URL}?{urlencode({'rid': rid, 'ver': key})}",
        )
    return links


def _one_asset_query(rid: str) -> dict[str, Any]:
    # One page filtered by rid, as the media-platform page's asset.list example asks for one asset.
    return {"rid": required(rid, "rid"), "items_per_page": 1, "page": 1}


def _listed(rid: str, answer: dict[str, Any]) -> dict[str, Any] | None:
    """The item of ``rid`` in an ``asset.list`` answer, or None when it is not there."""
    items = answer.get("items")
    if not isinstance(items, list):
        raise CincopaResponseError("Cincopa's answer to asset.list has no 'items' list", method="asset.list")
    return next((item for item in items if isinstance(item, dict) and item.get("rid") == rid), None)
