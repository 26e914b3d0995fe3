"""
Where a download is written: a local path, or anything Airflow's object storage writes.

Nothing half-written is ever visible at the destination: a local file is written under a hidden
temporary name beside it and renamed once whole; an object is written as a multipart upload
(s3fs, gcsfs...) that is completed only when whole and aborted on failure.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from airflow_provider_cincopa._compat import check_storage_scheme
from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.redaction import redact

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: The part of an object-storage multipart upload: the least S3 takes (5 MiB), as a part is what
#: s3fs holds in memory (and copies) before sending it: larger parts raise the peak RSS
#: (docs/performance.md, "Downloads").
MIN_PART = 5 * 1024 * 1024
#: S3 allows 10,000 parts per upload; larger files get larger parts.
MAX_PARTS = 9000
_PART_PREFIX = ".cincopa-part-"
#: A temporary file untouched this long and locked by no one was left by a writer that died.
#: A live writer holds its lock; the age only covers the moment between creating and locking.
ORPHAN_AGE = 60.0


class Writer(Protocol):
    """Bytes written in order; visible at the destination only after :meth:`commit`."""

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data``."""
        ...

    def commit(self) -> None:
        """Make the whole file visible at the destination."""
        ...

    def discard(self) -> None:
        """Throw away what was written; nothing stays at the destination."""
        ...


class Destination(Protocol):
    """A file to be written whole, or not at all."""

    #: What the XCom and the logs call it: a path, or a URI without credentials.
    uri: str

    def existing_size(self) -> int | None:
        """The size of what is there now, or None when nothing is."""
        ...

    def open(self, size: int) -> Writer:
        """Start writing a file of ``size`` bytes."""
        ...

    def child(self, name: str) -> Destination:
        """The file ``name`` inside this directory."""
        ...

    def read_text(self) -> str | None:
        """The file's text, or None when it does not exist (manifests and logs)."""
        ...

    def iter_lines(self) -> Iterator[str]:
        """The file's lines, read as they are used (none when it does not exist)."""
        ...

    def write_text(self, text: str) -> None:
        """Replace the file's text at once (manifests and logs)."""
        ...

    def list_names(self) -> list[str]:
        """The names of the files in this directory (none when it does not exist)."""
        ...

    def remove(self) -> None:
        """Delete the file, if it is there."""
        ...


class LocalWriter:
    """A hidden temporary file beside the destination, renamed over it on commit."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.temp = path.with_name(f"{_PART_PREFIX}{secrets.token_hex(4)}-{path.name}")
        self._file = open(self.temp, "wb")  # noqa: SIM115 (closed by commit or discard)
        # Held until the file is closed, or its process dies: how a later writer tells a
        # temporary file still being written from one a SIGKILLed task left behind. A file
        # system without flock still downloads: the file's fresh mtime is then what protects it.
        with contextlib.suppress(OSError):
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` (see :class:`Writer`)."""
        self._file.write(data)

    def commit(self) -> None:
        """fsync, then rename over the destination (see :class:`Writer`)."""
        self._file.flush()
        os.fsync(self._file.fileno())  # a rename must never publish bytes still only in memory
        self._file.close()
        os.replace(self.temp, self.path)

    def discard(self) -> None:
        """Close and delete the temporary file (see :class:`Writer`)."""
        self._file.close()
        self.temp.unlink(missing_ok=True)


def remove_orphaned_parts(path: Path) -> None:
    """
    Delete the temporary files of earlier writes to ``path`` whose writer died (a SIGKILLed or
    OOM-killed task): unlocked and untouched for :data:`ORPHAN_AGE`.
    """
    mine = re.compile(re.escape(_PART_PREFIX) + "[0-9a-f]{8}-" + re.escape(path.name))
    for part in path.parent.glob(f"{_PART_PREFIX}*"):
        if not mine.fullmatch(part.name):
            continue
        try:
            with open(part, "rb") as f:
                if time.time() - os.fstat(f.fileno()).st_mtime < ORPHAN_AGE:
                    continue
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError: being written
                part.unlink()
        except OSError:  # being written, or gone meanwhile: not ours to remove
            continue


class LocalDestination:
    """A file on the local disk."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.uri = str(self.path)

    def existing_size(self) -> int | None:
        """See :class:`Destination`."""
        if self.path.is_dir():
            raise CincopaInputError(f"The destination {self.path} is a directory: end it with '/' to download into it")
        return self.path.stat().st_size if self.path.exists() else None

    def open(self, size: int) -> Writer:
        """See :class:`Destination`; first deletes what writers that died left (:func:`remove_orphaned_parts`)."""
        return self._writer(sweep=True)

    def _writer(self, *, sweep: bool) -> LocalWriter:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if sweep:
                remove_orphaned_parts(self.path)
            return LocalWriter(self.path)
        except OSError as exc:
            raise CincopaInputError(f"Cannot write to {self.path}: {exc.strerror or exc}") from None

    def child(self, name: str) -> LocalDestination:
        """See :class:`Destination`."""
        return LocalDestination(self.path / name)

    def read_text(self) -> str | None:
        """See :class:`Destination`."""
        return self.path.read_text(encoding="utf-8") if self.path.is_file() else None

    def iter_lines(self) -> Iterator[str]:
        """See :class:`Destination`."""
        if self.path.is_file():
            with open(self.path, encoding="utf-8") as f:
                yield from f

    def write_text(self, text: str) -> None:
        """See :class:`Destination` (small files: no sweep for what dead writers left)."""
        writer = self._writer(sweep=False)
        try:
            writer.write(text.encode())
            writer.commit()
        except BaseException:
            writer.discard()
            raise

    def list_names(self) -> list[str]:
        """See :class:`Destination`."""
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if not p.name.startswith(_PART_PREFIX))

    def remove(self) -> None:
        """See :class:`Destination`."""
        self.path.unlink(missing_ok=True)


class ObjectWriter:
    """An fsspec file opened for writing: a multipart upload completed by ``close``."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def write(self, data: bytes | memoryview) -> None:
        """Append ``data`` (see :class:`Writer`)."""
        self._file.write(data)

    def commit(self) -> None:
        """Complete the upload (see :class:`Writer`)."""
        self._file.close()

    def discard(self) -> None:
        """Abort the multipart upload (see :class:`Writer`)."""
        with contextlib.suppress(Exception):
            self._file.discard()  # s3fs: abort the multipart upload
        # fsspec closes a file that is garbage-collected open, which would publish the partial.
        self._file.closed = True


class ObjectDestination:
    """An object in a bucket (``s3://``, ``gs://``...), written through ``ObjectStoragePath``."""

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        # str(path) names the connection as a user (s3://conn@bucket/key): the URI leaves it out.
        self.uri = redact(f"{path.protocol}://{path.path}")

    def existing_size(self) -> int | None:
        """See :class:`Destination`."""
        try:
            self.path.fs.invalidate_cache(self.path.path)
            info = self.path.fs.info(self.path.path)
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            raise CincopaInputError(f"The destination {self.uri} is a directory: end it with '/' to download into it")
        return int(info["size"])

    def open(self, size: int) -> Writer:
        """See :class:`Destination`."""
        part = max(MIN_PART, -(-size // MAX_PARTS))
        part = -(-part // (1024 * 1024)) * 1024 * 1024  # whole MiB
        try:
            return ObjectWriter(self.path.fs.open(self.path.path, "wb", block_size=part))
        except Exception as exc:
            raise CincopaInputError(f"Cannot write to {self.uri}: {redact(exc)}") from None

    def child(self, name: str) -> ObjectDestination:
        """See :class:`Destination`."""
        return ObjectDestination(self.path / name)

    def read_text(self) -> str | None:
        """See :class:`Destination`."""
        try:
            self.path.fs.invalidate_cache(self.path.path)
            return str(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def iter_lines(self) -> Iterator[str]:
        """See :class:`Destination`."""
        try:
            self.path.fs.invalidate_cache(self.path.path)
            with self.path.open("r", encoding="utf-8") as f:
                # readline, not iteration: Airflow 3.0's ObjectStoragePath wraps the file in an
                # object with __getitem__ but no __iter__, so iterating it fails.
                yield from iter(f.readline, "")
        except FileNotFoundError:
            return

    def write_text(self, text: str) -> None:
        """See :class:`Destination` (one PUT: an object appears whole or not at all)."""
        self.path.write_text(text, encoding="utf-8")

    def list_names(self) -> list[str]:
        """See :class:`Destination`."""
        try:
            self.path.fs.invalidate_cache(self.path.path)
            return sorted(str(p).rstrip("/").rsplit("/", 1)[-1] for p in self.path.fs.ls(self.path.path, detail=False))
        except FileNotFoundError:
            return []

    def remove(self) -> None:
        """See :class:`Destination`."""
        with contextlib.suppress(FileNotFoundError):
            self.path.fs.rm(self.path.path)


def open_destination(where: str | os.PathLike[str] | ObjectStoragePath, conn_id: str | None = None) -> Destination:
    """
    A local path or a URL Airflow's object storage writes (``s3://bucket/key``, ``file:///path``).

    :param where: the destination.
    :param conn_id: the Airflow connection object storage writes with.
    """
    from airflow_provider_cincopa.hooks.sources import _require_connection, _require_filesystem

    text = str(where or "").strip()
    if not text:
        raise CincopaInputError("No destination: destination_path is empty")
    parts = urlsplit(text)
    if "://" not in text or parts.scheme in ("file", "local"):
        return LocalDestination(parts.path if "://" in text else text)
    from airflow.sdk import ObjectStoragePath

    try:
        path = where if isinstance(where, ObjectStoragePath) else ObjectStoragePath(text, conn_id=conn_id)
        check_storage_scheme(path)
    except Exception as exc:
        _require_filesystem(parts.scheme, text)
        raise CincopaInputError(
            f"Unsupported or malformed destination {redact(text)!r}: {redact(exc)}. Use a local path or a URL "
            "that Airflow's object storage writes, such as s3://bucket/prefix/ or file:///path"
        ) from None
    _require_filesystem(path.protocol, text)
    try:
        _require_connection(conn_id, text)
    except CincopaInputError:
        raise CincopaInputError(
            f"destination_conn_id {conn_id!r}, the connection to write {redact(text)} with, is not defined: "
            "define it, or leave destination_conn_id out to use the environment's credentials"
        ) from None
    return ObjectDestination(path)
