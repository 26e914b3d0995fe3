"""
Files an upload reads from: local paths, or anything Airflow's object storage reads.

A source is read by byte range only (``read_at``), from several threads at once, so a multi-GB
video is never loaded whole into memory nor copied to a temporary file. Each source knows the
version it started reading (``version``: for a local file its device, inode, size and mtime; for
an object its ETag or generation) and :meth:`Source.check_unchanged` tells whether that is still
the version, so that the upload never completes an asset from bytes of two versions.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_cincopa._compat import check_storage_scheme
from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaSourceChangedError
from airflow_provider_cincopa.redaction import printable, redact

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

T = TypeVar("T")

#: How much one read pulls from a local disk.
LOCAL_BLOCK = 1024 * 1024
#: How much a chunk thread reads from object storage at a time, and how far past it the open file
#: reads ahead (fsspec's ``readahead`` cache): each ranged GET fetches REMOTE_BLOCK +
#: REMOTE_READ_AHEAD bytes, about the most a chunk thread holds. 1 MiB GETs tile every chunk size
#: of a whole number of MiB, so no GET reaches into the next chunk's bytes. Bigger GETs would halve
#: the requests (which matters against real S3's latency) but took the peak memory of a 4-thread
#: upload over the bound this provider keeps to (docs/performance.md has the figures).
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
    #: What tells two versions of the file apart (device, inode, size and mtime; an ETag): a
    #: resume needs the same one.
    version: str | None

    def read_at(self, offset: int, length: int) -> bytes:
        """Return up to ``length`` bytes starting at ``offset``."""
        ...

    def check_unchanged(self) -> None:
        """
        Raise :class:`~airflow_provider_cincopa.exceptions.CincopaSourceChangedError` when what
        is read is no longer the version that was opened (written to, grown, shrunk, or for an
        object replaced).
        """
        ...

    def close(self) -> None:
        """Release the file."""
        ...


class LocalSource:
    """
    A local regular file read with ``os.pread``: thread-safe, no shared file position.

    Its version is read from the open descriptor, so a file *replaced* by a rename is still read
    whole from the inode that was opened (the old version, intact); a file written *in place*
    changes that inode's size or mtime, which :meth:`check_unchanged` sees.
    """

    block_size = LOCAL_BLOCK

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.name = self.path.name
        self._where = redact(printable(self.path))
        # stat before open: opening a FIFO blocks until a writer comes, and a device is endless.
        _check_regular(self._stat(lambda: os.stat(self.path)), self._where)
        # O_NONBLOCK: should a FIFO be put in the file's place after the stat, open() returns at
        # once instead of waiting for a writer, and the fstat below refuses it.
        self._fd = self._stat(lambda: os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC))
        try:
            opened = os.fstat(self._fd)
            _check_regular(opened, self._where)
        except BaseException:
            os.close(self._fd)
            raise
        self.size = opened.st_size
        self._identity = _identity(opened)
        self.version: str | None = "{}:{}:{}:{}".format(*self._identity)

    def _stat(self, action: Callable[[], T]) -> T:
        """Run ``os.stat``/``os.open`` on the path, naming what is wrong with it."""
        try:
            return action()
        except FileNotFoundError:
            raise CincopaInputError(f"The file to upload does not exist: {self._where}") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise CincopaInputError(
                    f"The file to upload cannot be read: {self._where} is a symbolic link loop (ELOOP)"
                ) from None
            raise CincopaInputError(f"The file to upload cannot be read: {self._where} ({exc.strerror})") from None

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

    def check_unchanged(self) -> None:
        """See :class:`Source`: the open inode's size and mtime against those at the start."""
        now = _identity(os.fstat(self._fd))
        if now == self._identity:
            return
        if now[2] != self.size:
            how = f"it changed size during upload ({self.size} bytes at the start, {now[2]} now)"
        else:
            how = "it was written to during upload (same size, new modification time)"
        raise CincopaSourceChangedError(
            f"The file {self._where} changed while it was read: {how}. The upload was stopped before "
            "its last chunk, so no asset was made; upload a file that is no longer being written "
            "(a retry starts over from the file as it is then)"
        )

    def close(self) -> None:
        """Release the file (see :class:`Source`)."""
        os.close(self._fd)


def _identity(info: os.stat_result) -> tuple[int, int, int, int]:
    """What tells two versions of a local file apart: device, inode, size, mtime (ns)."""
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


#: Names of the file types that are not regular files, for the refusal.
_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def _check_regular(info: os.stat_result, where: str) -> None:
    """Refuse anything but a regular file, naming what it is."""
    if stat.S_ISREG(info.st_mode):
        return
    kind = next((name for test, name in _NOT_REGULAR if test(info.st_mode)), "not a regular file")
    if kind == "a directory":
        raise CincopaInputError(f"The file to upload is a directory, not a file: {where}")
    raise CincopaInputError(
        f"The file to upload cannot be read: {where} is {kind}, not a regular file; only regular files "
        "and object-storage objects are uploaded"
    )


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
        self._where = redact(printable(path))
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
                raise CincopaSourceChangedError(self._replaced(_version_of(details)))
        return file

    def check_unchanged(self) -> None:
        """See :class:`Source`: a fresh look at the object's version (ETag, generation) and size."""
        info = self._raise_if_changed(self._call(lambda: self._info_or_none()))
        if int(info["size"]) != self.size:  # same version marker, other size: a coarse mtime
            raise CincopaSourceChangedError(
                f"The file {self._where} changed while it was read: it changed size during upload "
                f"({self.size} bytes at the start, {info['size']} now); the next try uploads it from its first byte"
            )

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
        self._raise_if_changed(info)

    def _raise_if_changed(self, info: dict[str, Any] | None) -> dict[str, Any]:
        if info is None:
            raise CincopaSourceChangedError(f"The file {self._where} was deleted during upload ({self._whose()})")
        if _version_of(info) != self.version:
            raise CincopaSourceChangedError(self._replaced(_version_of(info)))
        return info

    def _replaced(self, now: str | None) -> str:
        return (
            f"The file {self._where} changed while it was read: it was replaced during upload "
            f"(version {self.version} when the upload "
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
            f"Reading {_shown(source)} needs {' and '.join(missing)}, which a plain install does not "
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
            f"source_conn_id {conn_id!r}, the connection to read {_shown(source)} with, is not defined "
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

        if not isinstance(source, ObjectStoragePath):
            _refuse_credentials(str(source))
        try:
            path = source if isinstance(source, ObjectStoragePath) else ObjectStoragePath(str(source), conn_id=conn_id)
            check_storage_scheme(path)
        except Exception as exc:
            _require_filesystem(urlsplit(str(source)).scheme, source)
            raise CincopaInputError(
                f"Unsupported or malformed source {_shown(source)!r}: {redact(exc)}. Use a local path or a URL "
                "that Airflow's object storage reads, such as s3://bucket/key or file:///path"
            ) from None
        _require_filesystem(path.protocol, source)
        _require_connection(conn_id, source)
        opened = ObjectStorageSource(path)
    if opened.size == 0:
        opened.close()
        raise CincopaInputError(f"The file to upload is empty (0 bytes): {_shown(source)}")
    return opened


def _shown(source: object) -> str:
    """``source`` as a message may show it: secrets masked, control characters escaped."""
    return redact(printable(source))


def _refuse_credentials(url: str) -> None:
    """
    Refuse a source URL with a user or password in it (``s3://KEY:SECRET@bucket/key``).

    Airflow's ``ObjectStoragePath`` would read the user part as a connection id, and the password
    would travel in messages; credentials belong in an Airflow connection named by ``source_conn_id``.
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return
    # Shown without its user part at all: no masking rule has to be right for it to stay out.
    shown = urlunsplit((parts.scheme, parts.hostname or "", parts.path, "", ""))
    raise CincopaInputError(
        f"The source URL {_shown(shown)!r} carries credentials (a user or password before the host): they are "
        "neither used nor shown. Put them in an Airflow connection and pass its id as source_conn_id"
    )
