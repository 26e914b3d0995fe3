"""
The hook's download methods: any version of an asset, streamed from Cincopa's CDN to any storage.

A download is one ``GET`` with ``Range: bytes=<reached>-``, read in blocks of ``BLOCK`` and
written as it is read, with the sha256 computed on the way (``_download_body.py``). A dropped connection, a timeout, a
429 or a 5xx mid-body is retried with the connection's policy (``retries``, ``retry_deadline``,
the hook's backoff) from the byte reached; a CDN that ignores ``Range`` (200 with the whole
file) has the bytes already written skipped, so the result is byte-exact either way. The file
must end exactly at the version's ``filesize``. Nothing is visible at the destination until the
file is whole (``_destinations.py``); a failed download leaves nothing there.

Version URLs carry no secret, so CDN downloads use a session of their own, apart from the API
and upload session and its redirect rules: redirects are followed (a CDN sends clients to an edge),
but never from ``https`` to ``http`` and never to another scheme.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from airflow_provider_cincopa.exceptions import (
    CincopaDestinationExistsError,
    CincopaDownloadSizeError,
    CincopaHlsVersionError,
    CincopaInputError,
    CincopaRedirectError,
    CincopaResponseError,
    CincopaVersionNotFoundError,
)
from airflow_provider_cincopa.hooks._assets import AssetsAPI, _version_links
from airflow_provider_cincopa.hooks._lineage import lineage_enabled, report_download
from airflow_provider_cincopa.hooks._params import comma_list, required
from airflow_provider_cincopa.hooks._transport import TransientError, describe
from airflow_provider_cincopa.redaction import printable, redact

if TYPE_CHECKING:
    import requests
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_cincopa.hooks._destinations import Destination, Writer
    from airflow_provider_cincopa.hooks._download_body import Progress
    from airflow_provider_cincopa.hooks._library import ExportResult, RestoreResult, RestoringHost
    from airflow_provider_cincopa.types import VersionLink

#: Redirect hops followed per request (a CDN sends a client to one edge, rarely more).
MAX_REDIRECTS = 5
IF_EXISTS = ("overwrite", "skip", "fail")


def check_if_exists(value: object, who: str = "") -> None:
    """
    Refuse an ``if_exists`` that is not one of :data:`IF_EXISTS` (a download's, not an upload's).

    :param value: what the caller gave.
    :param who: put before the message, e.g. ``"Task 'x': "``.
    :raises CincopaInputError: naming the choices.
    """
    if value not in IF_EXISTS:
        raise CincopaInputError(f"{who}if_exists must be one of {list(IF_EXISTS)}, got {value!r}")


log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadResult:
    """
    One version of an asset, downloaded (or found already there).

    :param rid: the asset.
    :param version: the version key that was downloaded (the first of the list the asset had).
    :param uri: where it is: a local path or an object-storage URI.
    :param size: its size in bytes.
    :param sha256: its sha256, or None on a skip where reading it back would cost a download.
    :param skipped: True when the destination already had it (``if_exists="skip"``).
    """

    rid: str
    version: str
    uri: str
    size: int
    sha256: str | None
    skipped: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict, for XCom."""
        return asdict(self)


def version_keys(version: str | list[str] | tuple[str, ...]) -> list[str]:
    """A version key, a comma string or a list of keys, as a non-empty list, best first."""
    keys = (comma_list(version) or "").split(",")
    keys = [k for k in keys if k]
    if not keys:
        raise CincopaInputError("version is empty: name at least one version key, e.g. original or mp4_hd")
    return keys


def pick_version(asset: dict[str, Any], version: str | list[str] | tuple[str, ...]) -> VersionLink:
    """
    The first of ``version`` the asset has, as ``get_version_url``'s ``ver`` list picks.

    :raises CincopaVersionNotFoundError: when the asset has none of them.
    :raises CincopaHlsVersionError: when the first it has is an HLS playlist (no guessing past it).
    """
    rid = str(asset.get("rid") or "")
    keys = version_keys(version)
    links = _version_links(rid, asset.get("versions"))
    link = next((links[k] for k in keys if k in links), None)
    if link is None:
        raise CincopaVersionNotFoundError(
            f"Asset {rid} has none of the versions {keys}; it has {sorted(links) or 'none yet'}"
            + ("" if asset.get("syncstatus") in (None, "", "synced") else f" (syncstatus {asset['syncstatus']!r})")
        )
    if is_hls(link):
        raise CincopaHlsVersionError(
            f"Version {link.key} of asset {rid} is an HLS playlist ({link.mime or '.m3u8'}), not one file: "
            "ask for original or an mp4 version (e.g. version=['mp4_hd', 'original'])"
        )
    if not link.url:
        raise CincopaResponseError(f"asset.list gave no usable URL for version {link.key} of asset {rid}")
    return link


def is_hls(link: VersionLink) -> bool:
    """An HLS playlist: its MIME type says so (``application/x-mpegURL``) or its URL ends ``.m3u8``."""
    return "mpegurl" in link.mime.lower() or urlsplit(link.url or "").path.lower().endswith(".m3u8")


def safe_filename(name: str, fallback: str) -> str:
    """``name`` as one file name: no path separators, no ``..``, no control characters."""
    base = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return fallback if base in ("", ".", "..") else base


def version_filename(asset: dict[str, Any], link: VersionLink) -> str:
    """The file name of a version: the asset's for the original, else the last part of its URL."""
    rid = str(asset.get("rid") or "asset")
    if link.key == "original" and asset.get("filename"):
        return safe_filename(str(asset["filename"]), rid)
    return safe_filename(unquote(urlsplit(link.url or "").path), f"{rid}-{link.key}")


def check_redirect(from_url: str, to_url: str) -> None:
    """Refuse a redirect to another scheme than http(s), or from https down to http."""
    before, after = urlsplit(from_url).scheme, urlsplit(to_url).scheme
    if after not in ("http", "https") or (before == "https" and after == "http"):
        raise CincopaRedirectError(
            f"The CDN redirected {redact(from_url)} to {redact(to_url)}: a download never follows a redirect "
            "from https to http or to another scheme"
        )


class DownloadsAPI(AssetsAPI):
    """Downloads of any version of an asset to a local path or object storage."""

    @cached_property
    def cdn_session(self) -> requests.Session:
        """The session for CDN downloads, apart from the API's: no token, redirects checked here."""
        import requests
        from requests.adapters import HTTPAdapter

        from airflow_provider_cincopa.hooks.cincopa import user_agent

        session = requests.Session()
        # identity: the bytes counted and hashed must be the file's, never a gzip of them.
        session.headers.update({"User-Agent": user_agent(), "Accept-Encoding": "identity"})
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close_downloads(self) -> None:
        """Close the CDN session (and its pooled connections)."""
        if "cdn_session" in self.__dict__:
            self.cdn_session.close()
            del self.__dict__["cdn_session"]

    def download_version(
        self,
        rid: str,
        destination: str | os.PathLike[str] | ObjectStoragePath,
        *,
        version: str | list[str] | tuple[str, ...] = "original",
        destination_conn_id: str | None = None,
        if_exists: str = "overwrite",
        asset: dict[str, Any] | None = None,
    ) -> DownloadResult:
        """
        Download one version of an asset to a local path or an object-storage URI.

        :param rid: the asset.
        :param destination: a file path or URI; one ending in ``/`` is a directory, and the file
            takes the version's file name (made safe: no separators, no ``..``).
        :param version: a version key, or a list (or comma string) of keys: the first the asset
            has wins; an HLS version is refused with
            :class:`~airflow_provider_cincopa.exceptions.CincopaHlsVersionError`.
        :param destination_conn_id: the Airflow connection object storage writes with.
        :param if_exists: ``"overwrite"``; ``"skip"``: a destination of the expected size is
            kept and the CDN is not asked at all; ``"fail"``: raise
            :class:`~airflow_provider_cincopa.exceptions.CincopaDestinationExistsError`.
        :param asset: the asset's ``asset.list`` item when the caller has it (saves one call).
        """
        check_if_exists(if_exists)
        rid = str(required(rid, "rid"))
        item = asset if asset is not None else self.get_asset(rid)
        link = pick_version(item, version)
        # Imported here, not at the top: a DAG file that imports the operators does not pay for them.
        from airflow_provider_cincopa.hooks._destinations import open_destination

        where = open_destination(destination, destination_conn_id)
        if str(destination).endswith("/"):
            where = where.child(version_filename(item, link))
        existing = where.existing_size()
        if existing is not None and if_exists == "fail":
            raise CincopaDestinationExistsError(f"{where.uri} already exists (if_exists='fail'): not downloaded")
        if existing is not None and if_exists == "skip" and existing == link.filesize:
            log.info("%s already has the %d bytes of %s of %s: skipped", printable(where.uri), existing, link.key, rid)
            return DownloadResult(rid, link.key, where.uri, existing, _local_sha256(where), skipped=True)
        report_lineage = lineage_enabled(self)
        size, sha256 = self.download_url(str(link.url), where, size=link.filesize)
        if report_lineage:
            report_download(self, rid, where.uri)
        return DownloadResult(rid, link.key, where.uri, size, sha256)

    def export_assets(
        self,
        destination_path: str,
        *,
        destination_conn_id: str | None = None,
        search: str | None = None,
        tag: str | None = None,
        versions: str | list[str] = "original",
        max_parallel_downloads: int = 4,
    ) -> ExportResult:
        """
        Export every matching asset and a ``manifest.jsonl``, incrementally (``hooks/_library.py``).

        :param destination_path: a folder or bucket prefix.
        :param destination_conn_id: the Airflow connection object storage writes with.
        :param search: only assets ``asset.list``'s ``search`` matches.
        :param tag: only assets with this tag.
        :param versions: the version key, or keys best first, to export of each asset.
        :param max_parallel_downloads: downloads in flight at once.
        """
        from airflow_provider_cincopa.hooks._library import LibraryExport

        export = LibraryExport(
            self,
            destination_path,
            destination_conn_id=destination_conn_id,
            versions=versions,
            max_parallel_downloads=max_parallel_downloads,
        )
        return export.run(self.list_assets(search=search, tag=tag))

    def restore_assets(self: RestoringHost, manifest_path: str, *, source_conn_id: str | None = None) -> RestoreResult:
        """
        Upload what an export's manifest lists and Cincopa no longer has (``hooks/_library.py``).

        :param manifest_path: the export's ``manifest.jsonl`` (a path or URI).
        :param source_conn_id: the Airflow connection object storage reads with.
        """
        from airflow_provider_cincopa.hooks._library import LibraryRestore

        return LibraryRestore(self, manifest_path, source_conn_id=source_conn_id).run()

    def download_url(self, url: str, destination: Destination, *, size: int | None) -> tuple[int, str]:
        """
        Stream ``url`` to ``destination``, resuming on transient failures; return (size, sha256).

        :param url: a CDN URL (no secret in it).
        :param destination: where to write (``_destinations.open_destination``).
        :param size: the size the file must have (``filesize``); None takes the CDN's word.
        """
        from airflow_provider_cincopa.hooks._download_body import Progress

        progress = Progress(url, size)
        writer = destination.open(size or 0)
        started = time.monotonic()
        try:
            for attempt in self.retrying(idempotent=True):
                with attempt:
                    self._read_once(progress, writer)
            if progress.size is not None and progress.done != progress.size:
                raise CincopaDownloadSizeError(
                    f"{redact(url)} ended at {progress.done} bytes, not the {progress.size} asset.list gives"
                )
            writer.commit()
        except BaseException:
            writer.discard()
            raise
        elapsed = max(time.monotonic() - started, 1e-6)
        log.info(
            "Downloaded %s to %s: %d bytes in %.1fs (%.1f MB/s), sha256 %s",
            printable(redact(url)), printable(destination.uri), progress.done, elapsed,
            progress.done / elapsed / 1e6, progress.digest.hexdigest(),
        )  # fmt: skip
        return progress.done, progress.digest.hexdigest()

    def _read_once(self, progress: Progress, writer: Writer) -> None:
        """One GET from the byte reached; raises TransientError for what a retry may fix."""
        import requests

        if progress.size is not None and progress.done == progress.size:
            return  # the connection failed after the last byte: nothing is missing
        if progress.done:
            log.warning("Resuming %s at byte %d", printable(redact(progress.url)), progress.done)
        try:
            response = self._get(progress.url, progress.range_header())
            with response:
                progress.read_body(response, writer)
        except requests.RequestException as exc:
            raise TransientError(
                f"Downloading {redact(progress.url)} failed at byte {progress.done}: {describe(exc)}"
            ) from None

    def _get(self, url: str, headers: dict[str, str]) -> requests.Response:
        """GET ``url``, following redirects that :func:`check_redirect` allows."""
        timeout = self.settings.timeout
        for _ in range(MAX_REDIRECTS + 1):
            response = self.cdn_session.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=False)
            if not response.is_redirect:
                return response
            location = urljoin(url, response.headers.get("location", ""))
            response.close()
            check_redirect(url, location)
            url = location
        raise CincopaRedirectError(f"The CDN redirected {redact(url)} more than {MAX_REDIRECTS} times")


def _local_sha256(where: Destination) -> str | None:
    """The sha256 of a local file (read from disk, no CDN request); None for an object."""
    from airflow_provider_cincopa.hooks._destinations import LocalDestination
    from airflow_provider_cincopa.hooks._download_body import BLOCK

    if not isinstance(where, LocalDestination):
        return None  # reading an object back costs as much as downloading it
    digest = hashlib.sha256()
    with open(where.path, "rb") as f:
        for block in iter(lambda: f.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
