"""
Files an upload reads from: local paths, or anything Airflow's object storage reads.

A source is read by byte range only (``read_at``), from several threads at once, so a multi-GB
video is never loaded whole into memory nor copied to a temporary file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit

from airflow_provider_cincopa._compat import check_storage_scheme
from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.redaction import redact

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

T = TypeVar("T")

#: How much one read pulls from a local disk.
LOCAL_BLOCK = 1024 * 1024
#: How much a chunk thread reads from object storage at a time, and how far past it the open file
#: reads ahead (fsspec's ``readahead`` cache): each ranged GET fetches REMOTE_BLOCK +
#: REMOTE_READ_AHEAD bytes, about the most a chunk thread holds. 1 MiB GETs tile every chunk size
#: of a whole number of MiB, so no GET reaches into the next chunk's bytes. 2 MiB GETs (1 MiB +
#: 1 MiB) took 184-187 MB peak RSS for a bare 4-thread upload against 165-168 MB, over the 180 MB
#: this provider keeps to; they halve the requests, which matters more against real S3's latency.
REMOTE_BLOCK = 512 * 1024
REMOTE_READ_AHEAD = 512 * 1024

#: What each object store needs beyond a plain install: the package of its fsspec filesystem, the
#: Airflow provider module that registers that filesystem for ``ObjectStoragePath`` (and builds it
#: from the ``source_conn_id`` connection: without it Airflow has no filesystem for the scheme),
#: and the extra of this package that installs both.
_STORES: dict[str, tuple[str, str, str]] = {
    **dict.fromkeys(("s3", "s3a", "s3n"), ("s3fs", "airflow.providers.amazon.aws.fs.s3", "s3")),
    **dict.fromkeys(("gs", "gcs"), ("gcsfs", "airflow.providers.google.cloud.fs.gcs", "gcs")),
}
#: The keys of ``fs.info()`` that tell two versions of an object apart, by filesystem (s3fs: ETag;
#: gcsfs: generation, then etag; local: mtime).
_VERSION_KEYS = ("ETag", "generation", "etag", "md5Hash", "md5", "mtime", "LastModified", "updated")


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
        """Return up to ``length`` bytes starting at ``offset`` (see :class:`Source`)."""
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
        """The size now (see :class:`Source`)."""
        return os.stat(self.path).st_size

    def close(self) -> None:
        """Release the file (see :class:`Source`)."""
        os.close(self._fd)


class ObjectStorageSource:
    """
    An object-storage file, streamed: each chunk thread reads its range in REMOTE_BLOCK reads
    through an open file of its own, which fetches at most REMOTE_READ_AHEAD bytes past them.

    Every read is of the version seen when the source was opened: a file each thread opens is
    checked against it, and s3fs sends that ETag as ``If-Match`` on every ranged GET, so a
    replaced object fails the read instead of mixing two versions' bytes in one asset.
    """

    block_size = REMOTE_BLOCK

    def __init__(self, path: ObjectStoragePath) -> None:
        self.path = path
        self.name = path.name
        self._where = redact(str(path))
        self._fs = self._call(lambda: path.fs)
        info = self._call(lambda: self._info_or_none())
        if info is None:
            raise CincopaInputError(self._missing())
        if info.get("type") == "directory":
            raise CincopaInputError(f"The file to upload is a directory, not a file: {self._where}")
        self.size = int(info["size"])
        self.version = _version_of(info)
        # One open file per chunk thread: fsspec files keep a position and a cache, so they are
        # not shared between threads. Keyed by thread id; closed together by close().
        self._files: dict[int, Any] = {}
        self._files_lock = threading.Lock()

    # -- reads ---------------------------------------------------------------------------------

    def read_at(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes starting at ``offset`` (see :class:`Source`)."""
        file = self._file()
        try:
            if file.tell() != offset:
                file.seek(offset)
            return bytes(file.read(length))
        except CincopaInputError:
            raise
        except Exception as exc:
            self._raise_if_replaced()
            raise CincopaInputError(
                f"Reading {self._where} failed at byte {offset} ({self._whose()}): {redact(exc)}"
            ) from None

    def _file(self) -> Any:
        thread = threading.get_ident()
        file = self._files.get(thread)
        if file is None:
            file = self._call(
                lambda: self._fs.open(self.path.path, "rb", block_size=REMOTE_READ_AHEAD, cache_type="readahead")
            )
            with self._files_lock:
                self._files[thread] = file
            details = getattr(file, "details", None)
            if isinstance(details, dict) and _version_of(details) != self.version:
                raise CincopaInputError(self._replaced(_version_of(details)))
        return file

    def current_size(self) -> int:
        """The size now (see :class:`Source`)."""
        info = self._call(lambda: self._info_or_none())
        if info is None:
            raise CincopaInputError(f"The file {self._where} was deleted during upload ({self._whose()})")
        if _version_of(info) != self.version:
            raise CincopaInputError(self._replaced(_version_of(info)))
        return int(info["size"])

    def close(self) -> None:
        """Release the file (see :class:`Source`)."""
        with self._files_lock:
            files, self._files = list(self._files.values()), {}
        for file in files:
            # A read-only file has nothing to flush: a failed close cannot lose data.
            with contextlib.suppress(Exception):
                file.close()

    # -- what went wrong, named --------------------------------------------------------------------

    def _info_or_none(self) -> dict[str, Any] | None:
        # A fresh look, never a listing cached earlier: the version must be the object's now.
        self._fs.invalidate_cache(self.path.path)
        try:
            return dict(self._fs.info(self.path.path))
        except FileNotFoundError:
            return None

    def _raise_if_replaced(self) -> None:
        try:
            info = self._info_or_none()
        except Exception:
            return  # the read's own error says more
        if info is None:
            raise CincopaInputError(f"The file {self._where} was deleted during upload ({self._whose()})")
        if _version_of(info) != self.version:
            raise CincopaInputError(self._replaced(_version_of(info)))

    def _replaced(self, now: str | None) -> str:
        return (
            f"The file {self._where} was replaced during upload (version {self.version} when the upload "
            f"started, {now} now): this try stops rather than mix bytes of two versions; the next try "
            "uploads the new version from its first byte"
        )

    def _bucket(self) -> str:
        return str(self.path.path).lstrip("/").split("/", 1)[0]

    def _who(self) -> str:
        # ObjectStoragePath has had a conn_id property since 3.2; before, it is a storage option.
        conn = getattr(self.path, "conn_id", None) or self.path.storage_options.get("conn_id")
        return f"connection {conn!r}" if conn else "no source_conn_id (the environment's credentials)"

    def _whose(self) -> str:
        return f"bucket {self._bucket()!r}, {self._who()}"

    def _missing(self) -> str:
        bucket = self._bucket()
        try:
            bucket_exists = bool(bucket) and self._fs.exists(bucket)
        except Exception:
            bucket_exists = True  # cannot tell: say what is certain, that the file is not there
        if not bucket_exists and self.path.protocol not in ("file", "local"):
            return f"The bucket {bucket!r} does not exist ({self._who()}): {self._where} cannot be uploaded"
        return f"The file to upload does not exist: {self._where} ({self._whose()})"

    def _call(self, action: Callable[[], T]) -> T:
        """Run a storage call, turning a refusal or a failure into an error that names the source."""
        try:
            return action()
        except CincopaInputError:
            raise
        except PermissionError as exc:
            raise CincopaInputError(
                f"Object storage refused access to {self._where} ({self._whose()}): {redact(exc)}. "
                "Check the connection's credentials and that they may read this bucket"
            ) from None
        except Exception as exc:
            raise CincopaInputError(
                f"Cannot read {self._where} from object storage ({self._whose()}): {redact(exc)}"
            ) from None


def _version_of(info: dict[str, Any]) -> str | None:
    marker = next((info[k] for k in _VERSION_KEYS if info.get(k)), None)
    return None if marker is None else str(marker)


def _require_filesystem(protocol: str, source: object) -> None:
    """Refuse a scheme whose filesystem or Airflow provider is not installed, naming the extra."""
    needs = _STORES.get(protocol)
    if needs is None:
        return
    package, provider_module, extra = needs
    missing = [name for name in (package, provider_module) if not _importable(name)]
    if missing:
        raise CincopaInputError(
            f"Reading {redact(source)} needs {' and '.join(missing)}, which a plain install does not "
            f"include: pip install 'airflow-provider-cincopa[{extra}]'"
        )


def _require_connection(conn_id: str | None, source: object) -> None:
    """
    Refuse a ``source_conn_id`` that names no connection: the Amazon provider would quietly read
    with the environment's credentials instead ("switching to empty"), or anonymously.
    """
    if not conn_id:
        return
    from airflow_provider_cincopa._compat import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception as exc:
        raise CincopaInputError(
            f"source_conn_id {conn_id!r}, the connection to read {redact(source)} with, is not defined "
            f"({type(exc).__name__}): define it, or leave source_conn_id out to use the environment's credentials"
        ) from None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a parent package is missing
        return False


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
            _require_filesystem(urlsplit(str(source)).scheme, source)
            raise CincopaInputError(
                f"Unsupported or malformed source {redact(source)!r}: {redact(exc)}. Use a local path or a URL "
                "that Airflow's object storage reads, such as s3://bucket/key or file:///path"
            ) from None
        _require_filesystem(path.protocol, source)
        _require_connection(conn_id, source)
        opened = ObjectStorageSource(path)
    if opened.size == 0:
        opened.close()
        raise CincopaInputError(f"The file to upload is empty (0 bytes): {redact(source)}")
    return opened
