"""
Export a library to a folder or bucket with a manifest, incrementally; restore it from that manifest.

**Export.** Every matching asset goes to ``<destination>/<rid>/<filename>``; ``manifest.jsonl``
beside them has one JSON object per asset (:data:`MANIFEST_FIELDS`). A second export downloads
only assets that are new or whose ``modified`` or size changed: the others keep their manifest
entry and cost no CDN request. Each finished asset is recorded at once in a journal
(``.cincopa-export-journal/<rid>.json``, one small file or object each, written whole), so a
killed or retried export does not download again what it finished; the manifest is replaced
whole at the end (a rename, or one object written), then the journal is cleared.

Memory stays bounded whatever the library's size: ``asset.list`` is read a page at a time, the
previous manifest is read line by line into a temporary SQLite file rather than into memory, the new one is
spooled to a temporary file, and at most ``2 * max_parallel_downloads`` downloads are queued.

**Restore.** Each manifest entry's file is uploaded with ``upload_file`` (parallel chunks,
resume) and its metadata set; entries whose asset still exists (its rid, or an asset with its
``reference_id``) are skipped, and a log beside the manifest (``.cincopa-restore-log/<old
rid>.json``: old rid -> new rid) makes a re-run skip what an earlier one restored. The log is
written as soon as the upload made the new asset, marked while its metadata is still to set: a
run that failed between the two (Cincopa refused the metadata, the worker died) is finished by
the next one, which sets the metadata on that asset instead of uploading the file again.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_cincopa.exceptions import CincopaHlsVersionError, CincopaInputError, CincopaVersionNotFoundError
from airflow_provider_cincopa.hooks._destinations import Destination, open_destination
from airflow_provider_cincopa.hooks._download import pick_version, safe_filename
from airflow_provider_cincopa.hooks._metadata import META_FIELDS
from airflow_provider_cincopa.redaction import printable

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks._download import DownloadsAPI
    from airflow_provider_cincopa.types import UploadResult, VersionLink

MANIFEST = "manifest.jsonl"
JOURNAL = ".cincopa-export-journal"
RESTORE_LOG = ".cincopa-restore-log"
#: What each manifest line holds about its asset, besides ``version``, ``size``, ``sha256``, ``path``.
MANIFEST_FIELDS = (
    "rid",
    "filename",
    "caption",
    "description",
    "long_description",
    "related_link_text",
    "related_link_url",
    "tags",
    "reference_id",
    "type",
    "modified",
)
#: The metadata a restore sets again (``asset.set_meta``): every field but tags, which are set as a list.
RESTORED_META = tuple(field for field in META_FIELDS if field != "tags")


log = logging.getLogger(__name__)


class RestoringHost(Protocol):
    """What a restore needs of the hook: find assets, upload a file, set its metadata."""

    def asset_exists(self, rid: str) -> bool: ...

    def find_assets_by_reference_id(self, reference_id: str) -> list[dict[str, Any]]: ...

    def upload_file(
        self, source: str, *, filename: str | None = None, source_conn_id: str | None = None
    ) -> UploadResult: ...

    def set_meta(self, rid: str, **fields: Any) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ExportResult:
    """``exported`` and ``skipped`` assets, ``bytes`` downloaded, and the ``manifest``'s URI."""

    exported: int
    skipped: int
    bytes: int
    manifest: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict, for XCom."""
        return asdict(self)


@dataclass(frozen=True)
class RestoreResult:
    """How many entries were ``restored`` (uploaded) and ``skipped`` (their asset exists)."""

    restored: int
    skipped: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict, for XCom."""
        return asdict(self)


def directory(path: str) -> str:
    """``path`` as a directory (ending in ``/``)."""
    text = str(path or "").strip()
    if not text:
        raise CincopaInputError("destination_path is empty: name a folder or a bucket prefix")
    return text if text.endswith("/") else text + "/"


def tags_of(value: Any) -> list[str]:
    """An asset's ``tags`` (a comma string in ``asset.list``) as a list."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return [str(t).strip() for t in items if str(t).strip()]


class _Index:
    """The previous manifest (and journal), keyed by rid, in a temporary SQLite file."""

    def __init__(self) -> None:
        fd, self.path = tempfile.mkstemp(prefix="cincopa-export-", suffix=".sqlite")
        os.close(fd)
        self.db = sqlite3.connect(self.path)
        self.db.execute("CREATE TABLE entries (rid TEXT PRIMARY KEY, entry TEXT)")

    def add_lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by a crash of some other writer: that asset is exported again
            if isinstance(entry, dict) and entry.get("rid"):
                self.db.execute("INSERT OR REPLACE INTO entries VALUES (?, ?)", (str(entry["rid"]), line))

    def get(self, rid: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT entry FROM entries WHERE rid = ?", (rid,)).fetchone()
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        self.db.close()
        os.unlink(self.path)


class LibraryExport:
    """One run of an export (see the module docstring)."""

    def __init__(
        self,
        hook: DownloadsAPI,
        destination_path: str,
        *,
        destination_conn_id: str | None,
        versions: str | list[str],
        max_parallel_downloads: int,
    ) -> None:
        if int(max_parallel_downloads) < 1:
            raise CincopaInputError(f"max_parallel_downloads must be at least 1, got {max_parallel_downloads!r}")
        self.hook, self.versions, self.parallel = hook, versions, int(max_parallel_downloads)
        hook.cdn_session  # made once here, not by several download threads at once  # noqa: B018
        self.base = directory(destination_path)
        self.conn_id = destination_conn_id
        self.root = open_destination(self.base, destination_conn_id)
        self.journal = self.root.child(JOURNAL)
        self.exported = self.skipped = self.bytes = 0

    def run(self, assets: Iterator[dict[str, Any]]) -> ExportResult:
        """Export every asset ``assets`` yields; write the manifest; clear the journal."""
        index = _Index()
        spool = tempfile.TemporaryFile(mode="w+b")  # noqa: SIM115 (closed below)
        try:
            manifest = self.root.child(MANIFEST)
            index.add_lines(manifest.iter_lines())
            finished = self.journal.list_names()
            for name in finished:  # assets a killed or failed run had finished
                index.add_lines(self.journal.child(name).iter_lines())
            if finished:
                log.info("Export journal: %d assets finished by an earlier try are kept", len(finished))
            self._export_all(assets, index, spool)
            spool.seek(0)
            _copy(spool, manifest)
            for name in self.journal.list_names():
                self.journal.child(name).remove()
            return ExportResult(self.exported, self.skipped, self.bytes, manifest.uri)
        finally:
            spool.close()
            index.close()

    def _export_all(self, assets: Iterator[dict[str, Any]], index: _Index, spool: Any) -> None:
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="cincopa-export") as pool:
            pending: set[Future[dict[str, Any]]] = set()
            for item in assets:
                link = self._version(item)
                entry = None if link is None else self._unchanged(item, link, index)
                if link is None or entry is not None:
                    if entry is not None:
                        spool.write(_line(entry))
                    self.skipped += 1
                    continue
                pending.add(pool.submit(self._download, item))
                if len(pending) >= 2 * self.parallel:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    self._finish(done, spool)
            self._finish(pending, spool)

    def _finish(self, done: set[Future[dict[str, Any]]] | Any, spool: Any) -> None:
        for future in done:
            entry = future.result()  # a failed download fails the export; what finished is journaled
            spool.write(_line(entry))
            self.exported += 1
            self.bytes += int(entry["size"])

    def _version(self, item: dict[str, Any]) -> VersionLink | None:
        try:
            return pick_version(item, self.versions)
        except (CincopaVersionNotFoundError, CincopaHlsVersionError) as exc:
            log.warning("Not exported: %s", printable(exc))
            return None

    def _unchanged(self, item: dict[str, Any], link: VersionLink, index: _Index) -> dict[str, Any] | None:
        """The new manifest entry of an asset that needs no download, or None."""
        before = index.get(str(item.get("rid") or ""))
        if before is None or str(before.get("modified")) != str(item.get("modified")):
            return None
        if link.key != before.get("version") or link.filesize != before.get("size"):
            return None
        return {**_meta(item), **{k: before.get(k) for k in ("version", "size", "sha256", "path")}}

    def _download(self, item: dict[str, Any]) -> dict[str, Any]:
        rid = safe_filename(str(item.get("rid") or ""), "")
        if not rid:
            raise CincopaInputError(f"asset.list gave an asset without a usable rid: {printable(item.get('rid'))}")
        result = self.hook.download_version(
            rid, f"{self.base}{rid}/", version=self.versions, destination_conn_id=self.conn_id, asset=item
        )
        name = result.uri.rstrip("/").rsplit("/", 1)[-1]
        entry = {**_meta(item), "version": result.version, "size": result.size, "sha256": result.sha256}
        entry["path"] = f"{rid}/{name}"
        self.journal.child(f"{rid}.json").write_text(json.dumps(entry))
        return entry


def _meta(item: dict[str, Any]) -> dict[str, Any]:
    entry = {k: item.get(k) if item.get(k) is not None else "" for k in MANIFEST_FIELDS}
    entry["tags"] = tags_of(item.get("tags"))
    return entry


def _line(entry: dict[str, Any]) -> bytes:
    return (json.dumps(entry, ensure_ascii=False) + "\n").encode()


def _copy(spool: Any, target: Destination) -> None:
    """Write the spooled file to ``target`` whole (a rename, or one object), in blocks."""
    size = spool.seek(0, os.SEEK_END)
    spool.seek(0)
    writer = target.open(size)
    try:
        for block in iter(lambda: spool.read(1024 * 1024), b""):
            writer.write(block)
        writer.commit()
    except BaseException:
        writer.discard()
        raise


class LibraryRestore:
    """One run of a restore (see the module docstring)."""

    def __init__(self, hook: RestoringHost, manifest_path: str, *, source_conn_id: str | None) -> None:
        text = str(manifest_path or "").strip()
        if not text or text.endswith("/"):
            raise CincopaInputError(f"manifest_path must name a manifest file (…/{MANIFEST}), got {text!r}")
        self.hook, self.conn_id = hook, source_conn_id
        self.base = text.rsplit("/", 1)[0] + "/" if "/" in text else ""
        self.manifest = open_destination(text, source_conn_id)
        self.log = open_destination(self.base or ".", source_conn_id).child(RESTORE_LOG)

    def run(self) -> RestoreResult:
        """Restore every entry that is missing; return the counts."""
        if self.manifest.existing_size() is None:
            raise CincopaInputError(f"The manifest {self.manifest.uri} does not exist")
        restored = skipped = 0
        for number, line in enumerate(self.manifest.iter_lines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                old = safe_filename(str(entry["rid"]), "")
                path = str(entry["path"])
            except (ValueError, KeyError, TypeError):
                raise CincopaInputError(f"{self.manifest.uri} line {number} is not a manifest entry") from None
            earlier = self._earlier_run(old)
            new = str(earlier.get("new_rid") or "")
            if new and self.hook.asset_exists(new):
                if earlier.get("meta_pending"):  # that run failed before the metadata was set
                    log.info("Asset %s was uploaded as %s by an earlier run: setting its metadata", old, new)
                    self._set_meta(entry, old, new)
                    restored += 1
                else:
                    log.info("Asset %s is there as %s: not restored", old, new)
                    skipped += 1
                continue
            if self._still_there(entry, old):
                skipped += 1
                continue
            self._restore(entry, old, path)
            restored += 1
        return RestoreResult(restored, skipped)

    def _earlier_run(self, old: str) -> dict[str, Any]:
        """What an earlier run logged for this entry (``new_rid``, ``meta_pending``), or nothing."""
        record = self.log.child(f"{old}.json")
        text = record.read_text()
        try:
            saved = json.loads(text) if text else {}
        except ValueError:  # records are written whole: this one was edited by hand
            raise CincopaInputError(
                f"The restore log {record.uri} is not JSON: remove it to restore {old} again"
            ) from None
        return saved if isinstance(saved, dict) and saved.get("new_rid") else {}

    def _still_there(self, entry: dict[str, Any], old: str) -> bool:
        if self.hook.asset_exists(old):
            log.info("Asset %s is there as %s: not restored", old, old)
            return True
        reference_id = str(entry.get("reference_id") or "")
        if reference_id and self.hook.find_assets_by_reference_id(reference_id):
            log.info("An asset with reference_id %r exists: %s not restored", reference_id, old)
            return True
        return False

    def _restore(self, entry: dict[str, Any], old: str, path: str) -> None:
        if path.startswith("/") or ".." in path.split("/"):
            raise CincopaInputError(f"Manifest entry {old} has a path outside the export: {printable(path)}")
        filename = safe_filename(str(entry.get("filename") or ""), path.rsplit("/", 1)[-1])
        result = self.hook.upload_file(f"{self.base}{path}", filename=filename, source_conn_id=self.conn_id)
        log.info("Uploaded %s as %s (%d bytes)", old, result.rid, result.size)
        self._set_meta(entry, old, result.rid)

    def _set_meta(self, entry: dict[str, Any], old: str, new: str) -> None:
        """Set the entry's metadata on the asset restored as ``new``, logging it pending until then."""
        meta: dict[str, Any] = {k: entry.get(k) for k in RESTORED_META if entry.get(k)}
        if tags_of(entry.get("tags")):
            meta["tags"] = tags_of(entry.get("tags"))
        record = self.log.child(f"{old}.json")
        if meta:
            record.write_text(json.dumps({"old_rid": old, "new_rid": new, "meta_pending": True}))
            self.hook.set_meta(new, **meta)
        record.write_text(json.dumps({"old_rid": old, "new_rid": new}))
        log.info("Restored %s as %s", old, new)
