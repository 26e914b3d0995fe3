"""
One CDN answer's body, read into reused buffers, hashed by one thread and written by another.

Reading the socket, hashing and writing each release the GIL, so the three overlap: a block is
hashed while it is written and the next one read, and a download runs at the speed of the
slowest of them (writing, on a local disk), not of their sum. The blocks are a few buffers
allocated once per answer and reused (``readinto``), never a fresh ``bytes`` object per read:
on this kind of VM the first touch of fresh memory pages costs more than the copy itself
(docs/performance.md, "Downloads").
"""

from __future__ import annotations

import hashlib
import http.client
import queue
import re
import threading
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.exceptions import CincopaDownloadSizeError, CincopaHttpError
from airflow_provider_cincopa.hooks._transport import TransientError, is_transient_status, seconds_from_header
from airflow_provider_cincopa.redaction import redact

if TYPE_CHECKING:
    import requests

    from airflow_provider_cincopa.hooks._destinations import Writer

#: Bytes read from the socket at a time.
BLOCK = 1024 * 1024
#: Buffers per answer: one being read into, one or two being hashed and written, one spare.
BUFFERS = 4
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


class Progress:
    """How far one download got: bytes written, their sha256, and the size the file must have."""

    def __init__(self, url: str, size: int | None) -> None:
        self.url, self.size, self.done = url, size, 0
        self.digest = hashlib.sha256()

    def range_header(self) -> dict[str, str]:
        """Even the first request asks for a range: a CDN's 200 then says it ignores them."""
        return {"Range": f"bytes={self.done}-"} if self.size != 0 else {}

    def start_of(self, response: requests.Response) -> int:
        """Check the answer's status and size; return how many leading bytes to skip."""
        status = response.status_code
        where = redact(self.url)
        encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
        if status in (200, 206) and encoding not in ("", "identity"):
            # The body is read raw (read_body): an encoded one would be written encoded.
            raise CincopaHttpError(
                f"The CDN sent {where} with Content-Encoding {encoding!r} though asked for the bytes as they are",
                status_code=status,
            )
        if is_transient_status(status):
            raise TransientError(
                f"The CDN answered {where} with HTTP {status}",
                status_code=status,
                retry_after=seconds_from_header(response.headers.get("Retry-After")),
            )
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) > self.done:
                raise CincopaHttpError(f"The CDN answered {where} with an unusable Content-Range", status_code=206)
            start, total = int(match.group(1)), None if match.group(3) == "*" else int(match.group(3))
        elif status == 200:
            length = response.headers.get("Content-Length")
            start, total = 0, int(length) if length and length.isdigit() else None
        else:
            raise CincopaHttpError(f"The CDN answered {where} with HTTP {status}", status_code=status)
        if total is not None and self.size is not None and total != self.size:
            raise CincopaDownloadSizeError(f"The CDN has {total} bytes for {where}, asset.list says {self.size}")
        if self.size is None:
            self.size = total
        return self.done - start

    def read_body(self, response: requests.Response, writer: Writer) -> None:
        """
        Read the answer's body to its end into ``writer``, skipping what is already written.

        :raises TransientError: the connection failed or ended before the file did.
        """
        skip = self.start_of(response)
        # The http.client response under urllib3's: its readinto fills our buffer in place, where
        # urllib3's own readinto reads into a new bytes object and copies it.
        body: Any = getattr(response.raw, "_fp", None) or response.raw
        stages = _Stages(self, writer)
        queued = self.done
        try:
            while stages.error is None:
                buffer = stages.free.get()
                got = _read_into(body, buffer, self)
                cut = min(skip, got)
                skip -= cut  # a CDN that ignored Range resent what is already written
                if self.size is not None and queued + got - cut > self.size:
                    stages.free.put(buffer)
                    raise CincopaDownloadSizeError(
                        f"The CDN sent more than the {self.size} bytes of {redact(self.url)}"
                    )
                if got == 0:
                    stages.free.put(buffer)
                    break
                queued += got - cut
                stages.put(buffer, cut, got)
        finally:
            stages.close()  # what was read is written and hashed before anyone looks at `done`
        if stages.error is not None:
            raise stages.error
        if self.size is not None and self.done < self.size:
            raise TransientError(f"The CDN closed {redact(self.url)} at byte {self.done} of {self.size}")


def _read_into(body: Any, buffer: bytearray, progress: Progress) -> int:
    try:
        return int(body.readinto(buffer) or 0)
    except (OSError, http.client.HTTPException) as exc:
        raise TransientError(
            f"Downloading {redact(progress.url)} failed near byte {progress.done}: {type(exc).__name__}: {redact(exc)}"
        ) from None
    except Exception as exc:  # urllib3's ProtocolError and kin, when reading through urllib3
        if type(exc).__module__.startswith("urllib3"):
            raise TransientError(
                f"Downloading {redact(progress.url)} failed near byte {progress.done}: {type(exc).__name__}"
            ) from None
        raise


class _Stages:
    """Two threads, one hashing and one writing the blocks read, in order; a buffer is free once both are done."""

    def __init__(self, progress: Progress, writer: Writer) -> None:
        self.progress = progress
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(BUFFERS):
            self.free.put(bytearray(BLOCK))
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._finished: dict[int, int] = {}
        self._queues: list[queue.Queue[tuple[bytearray, int, int] | None]] = []
        self._threads = []
        for name, work in (("hash", progress.digest.update), ("write", writer.write)):
            todo: queue.Queue[tuple[bytearray, int, int] | None] = queue.Queue()
            thread = threading.Thread(target=self._run, args=(todo, work), name=f"cincopa-download-{name}", daemon=True)
            self._queues.append(todo)
            self._threads.append(thread)
            thread.start()

    def put(self, buffer: bytearray, start: int, end: int) -> None:
        """Hand bytes ``start:end`` of ``buffer`` to both threads."""
        for todo in self._queues:
            todo.put((buffer, start, end))

    def close(self) -> None:
        """Wait until every block handed over is hashed and written."""
        for todo in self._queues:
            todo.put(None)
        for thread in self._threads:
            thread.join()

    def _run(self, todo: queue.Queue[tuple[bytearray, int, int] | None], work: Any) -> None:
        while (item := todo.get()) is not None:
            buffer, start, end = item
            try:
                if self.error is None and end > start:
                    work(memoryview(buffer)[start:end])
            except BaseException as exc:  # handed to the reading thread, which raises it
                self.error = exc
            self._release(buffer, end - start)

    def _release(self, buffer: bytearray, length: int) -> None:
        # Each thread takes the blocks in order, so the second to finish a block finishes them in order.
        with self._lock:
            seen = self._finished.pop(id(buffer), 0) + 1
            if seen < len(self._threads):
                self._finished[id(buffer)] = seen
                return
            if self.error is None:
                self.progress.done += length
        self.free.put(buffer)
