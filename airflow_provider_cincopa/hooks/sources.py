"""
Files an upload reads from: local paths, or anything Airflow's object storage reads.

A source is read by byte range only (``read_at``), from several threads at once, so a multi-GB
video is never loaded whole into memory nor copied to a temporary file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from airflow_provider_cincopa._compat import check_storage_scheme
from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.redaction import redact

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: How much one read pulls from a local disk and from object storage (one ranged GET).
LOCAL_BLOCK = 1024 * 1024
REMOTE_BLOCK = 8 * 1024 * 1024


class Source(Protocol):
    """A file of known size that can be read at any offset, from any thread."""

    name: str
    size: int
    block_size: int
    #: What tells two versions of the file apart (mtime, ETag): a resume needs the same one.
    version: str | None

    def read_at(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes starting at ``offset``."""
        ...

    def current_size(self) -> int:
        """The size now, to catch a file that changed while it was uploading."""
        ...

    def close(self) -> None:
        """Release the file."""
        ...


class LocalSource:
    """A local file read with ``os.pread``: thread-safe, no shared file position."""

    block_size = LOCAL_BLOCK

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = self.path.name
        if not self.path.exists():
            raise CincopaInputError(f"The file to upload does not exist: {self.path}")
        if self.path.is_dir():
            raise CincopaInputError(f"The file to upload is a directory, not a file: {self.path}")
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise CincopaInputError(f"The file to upload cannot be read: {self.path} ({exc.strerror})") from None
        stat = os.fstat(self._fd)
        self.size = stat.st_size
        self.version: str | None = f"{stat.st_ino}-{stat.st_mtime_ns}"

    def read_at(self, offset: int, length: int) -> bytes:
        return os.pread(self._fd, length, offset)

    def read_into(self, offset: int, buffer: memoryview) -> int:
        """Fill ``buffer`` from ``offset`` (short only at the end of the file); the bytes read."""
        done = 0
        while done < len(buffer):
            got = os.preadv(self._fd, [buffer[done:]], offset + done)
            if got == 0:
                break
            done += got
        return done

    def current_size(self) -> int:
        return os.stat(self.path).st_size

    def close(self) -> None:
        os.close(self._fd)


class ObjectStorageSource:
    """An object-storage file read by ranged requests through its fsspec filesystem."""

    block_size = REMOTE_BLOCK

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        self.name = path.name
        where = redact(str(path))
        try:
            exists = path.exists()
        except Exception as exc:
            raise CincopaInputError(f"Cannot read {where} from object storage: {redact(exc)}") from None
        if not exists:
            raise CincopaInputError(f"The file to upload does not exist: {where}")
        if path.is_dir():
            raise CincopaInputError(f"The file to upload is a directory, not a file: {where}")
        info = path.fs.info(path.path)
        self.size = self.current_size()
        marker = next(
            (info[k] for k in ("ETag", "etag", "md5", "mtime", "LastModified", "updated") if info.get(k)), None
        )
        self.version = None if marker is None else str(marker)

    def read_at(self, offset: int, length: int) -> bytes:
        return bytes(self.path.fs.cat_file(self.path.path, start=offset, end=offset + length))

    def current_size(self) -> int:
        return int(self.path.stat().st_size)

    def close(self) -> None:
        pass


def open_source(source: str | os.PathLike[str] | ObjectStoragePath, conn_id: str | None = None) -> Source:
    """
    Open ``source`` for ranged reads, checking it is a non-empty readable file.

    :param source: a local path, a URL object storage reads (``s3://``, ``file://``, ...) or an
        ``ObjectStoragePath``.
    :param conn_id: the Airflow connection object storage uses for a URL.
    """
    if source is None or str(source).strip() == "":
        raise CincopaInputError("No file to upload: source_path is empty")
    opened: Source
    if isinstance(source, (str, os.PathLike)) and "://" not in str(source):
        opened = LocalSource(source)
    else:
        from airflow.sdk import ObjectStoragePath

        try:
            path = source if isinstance(source, ObjectStoragePath) else ObjectStoragePath(str(source), conn_id=conn_id)
            check_storage_scheme(path)
        except Exception as exc:
            raise CincopaInputError(
                f"Unsupported or malformed source {redact(source)!r}: {redact(exc)}. Use a local path or a URL "
                "that Airflow's object storage reads, such as s3://bucket/key or file:///path"
            ) from None
        opened = ObjectStorageSource(path)
    if opened.size == 0:
        opened.close()
        raise CincopaInputError(f"The file to upload is empty (0 bytes): {redact(source)}")
    return opened
