"""
Chunked, parallel, resumable uploads to Cincopa's upload host.

Protocol (wire-protocol page, as Cincopa's own uploader sends it): every chunk is a POST of raw
bytes to the same upload URL with ``X-File-Name``, ``Content-Range: bytes START-END/TOTAL`` where
END is *exclusive*, and one ``unique-id`` per file. Answers are plain text; the chunk that
completes the file answers ``new resource id <id> <rid>``. Chunks may arrive in any order and
the server takes a repeated chunk again, so a chunk is always safe to retry.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from requests_toolbelt import StreamingIterator
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from airflow_provider_cincopa.exceptions import (
    CincopaAuthError,
    CincopaHttpError,
    CincopaInputError,
    CincopaUploadError,
)
from airflow_provider_cincopa.hooks._transport import (
    RETRYABLE_STATUS,
    BackoffWithRetryAfter,
    MalformedAnswerError,
    TransientError,
    describe,
    seconds_from_header,
)
from airflow_provider_cincopa.hooks.sources import Source, open_source
from airflow_provider_cincopa.ranges import add_range
from airflow_provider_cincopa.redaction import redact
from airflow_provider_cincopa.types import UploadResult

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

ProgressCallback = Callable[[int, int], None]

DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024
DEFAULT_PARALLEL_CHUNKS = 4
#: Cincopa's own uploader waits 2 minutes for a chunk's answer (wire-protocol page).
CHUNK_READ_TIMEOUT = 120.0
PROGRESS_LOG_INTERVAL = 10.0
_NEW_RESOURCE = re.compile(r"new resource id (\d+) (\S+)")


@dataclass
class ResumeState:
    """
    What a later try needs to finish the same upload: kept in ``task_state_store``.

    The upload URL embeds a ``hash`` that lets anyone upload into the account: the store is
    private to the task, and nothing here is logged, pushed to XCom or rendered.
    """

    upload_url: str
    unique_id: str
    filename: str
    size: int
    done: list[list[int]] = field(default_factory=list)
    rid: str | None = None
    id: int | None = None
    source_version: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict for ``task_state_store``."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> ResumeState | None:
        """Read a stored state back; None when it is missing or not ours."""
        try:
            return cls(**value)
        except TypeError:
            return None

    def missing(self, chunk_size: int) -> list[tuple[int, int]]:
        """The byte ranges not acknowledged yet, cut into chunks of at most ``chunk_size``."""
        ranges, cursor = [], 0
        for start, end in [*sorted(self.done), [self.size, self.size]]:
            for offset in range(cursor, start, chunk_size):
                ranges.append((offset, min(offset + chunk_size, start)))
            cursor = max(cursor, end)
        return ranges

    def add_done(self, start: int, end: int) -> None:
        """Record an acknowledged range, merging neighbours to keep the state small."""
        self.done = add_range(self.done, start, end)

    @property
    def bytes_done(self) -> int:
        """Bytes acknowledged so far."""
        return sum(end - start for start, end in self.done)


class ChunkedUpload:
    """
    One file's upload: validates the source, then sends its missing ranges in parallel.

    Memory stays bounded by ``max_parallel_chunks`` read blocks (1 MiB from disk, 8 MiB from object
    storage), whatever the file and chunk size: chunks are streamed, not held.

    :param hook: the hook whose session, connection settings and logger are used.
    :param source: local path, object-storage URL or ``ObjectStoragePath``.
    :param source_conn_id: the connection object storage reads ``source`` with.
    :param filename: the name Cincopa shows (default: the source's name).
    :param chunk_size: bytes per request.
    :param max_parallel_chunks: requests in flight at once.
    :param progress_callback: ``callback(bytes_done, total_bytes)`` after each chunk.
    :param cancel: set it (from another thread, e.g. ``on_kill``) to stop sending chunks.
    """

    def __init__(
        self,
        hook: CincopaHook,
        source: Any,
        *,
        source_conn_id: str | None = None,
        filename: str | None = None,
        chunk_size: int | None = None,
        max_parallel_chunks: int | None = None,
        progress_callback: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        self.chunk_size = DEFAULT_CHUNK_SIZE if chunk_size is None else int(chunk_size)
        self.parallel = DEFAULT_PARALLEL_CHUNKS if max_parallel_chunks is None else int(max_parallel_chunks)
        if self.chunk_size <= 0:
            raise CincopaInputError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}")
        if self.parallel <= 0:
            raise CincopaInputError(f"max_parallel_chunks must be at least 1, got {max_parallel_chunks!r}")
        if filename is not None and not filename.strip():
            raise CincopaInputError("filename, when given, must not be blank")
        self.hook = hook
        self.log = hook.log
        self.progress_callback = progress_callback
        self.source: Source = open_source(source, source_conn_id)
        self.filename = filename or self.source.name
        self._cancel = cancel or threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def run(
        self,
        get_upload_url: Callable[[], str],
        *,
        resume: ResumeState | None = None,
        on_state: Callable[[ResumeState], None] | None = None,
    ) -> UploadResult:
        """
        Upload the file and return what Cincopa created.

        :param get_upload_url: called for a fresh upload URL unless ``resume`` is usable.
        :param resume: a previous try's state: only its missing ranges are sent.
        :param on_state: called with the state at the start and after each acknowledged chunk.
        """
        self._on_state = on_state
        try:
            state = self._usable(resume)
            if state is not None and state.rid is not None and state.id is not None:
                self.log.info(
                    "Upload of %s already finished as asset %s: not uploading again", state.filename, state.rid
                )
                return UploadResult(rid=state.rid, id=state.id, filename=state.filename, size=state.size)
            if state is not None:
                self.log.info(
                    "Resuming upload of %s: %d of %d bytes were already acknowledged",
                    state.filename,
                    state.bytes_done,
                    state.size,
                )
                try:
                    return self._upload(state)
                except CincopaAuthError:
                    # Upload URLs expire; nothing was created with this one (no rid), so start over.
                    self.log.warning(
                        "The upload host no longer accepts the saved upload URL for %s: starting a new upload",
                        self.filename,
                    )
            fresh = ResumeState(
                upload_url=get_upload_url(),
                unique_id=f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:12]}",
                filename=self.filename,
                size=self.source.size,
                source_version=self.source.version,
            )
            return self._upload(fresh)
        finally:
            self.source.close()

    def _upload(self, state: ResumeState) -> UploadResult:
        self._state, self._stop = state, threading.Event()
        self._notify()
        self._send_all(state.missing(self.chunk_size))
        if self._cancel.is_set() and state.rid is None:
            raise CincopaUploadError(
                f"The upload of {self.filename} was cancelled after {state.bytes_done} of {state.size} bytes",
                method="upload",
            )
        if self.source.current_size() != state.size:
            raise CincopaInputError(
                f"The file {self.filename} changed size during upload ({state.size} bytes at the start, "
                f"{self.source.current_size()} now): upload a file that is no longer being written"
            )
        if state.rid is None or state.id is None:
            raise CincopaUploadError(
                f"Cincopa took every byte of {self.filename} but never answered with a new resource id",
                method="upload",
            )
        return UploadResult(rid=state.rid, id=state.id, filename=state.filename, size=state.size)

    def _halted(self) -> bool:
        return self._stop.is_set() or self._cancel.is_set()

    def _usable(self, resume: ResumeState | None) -> ResumeState | None:
        if resume is None:
            return None
        changed = resume.source_version is not None and resume.source_version != self.source.version
        if resume.size != self.source.size or resume.filename != self.filename or changed:
            self.log.warning(
                "The saved upload state is for another version of %s (%d bytes), not this %s (%d bytes): "
                "starting a new upload",
                resume.filename,
                resume.size,
                self.filename,
                self.source.size,
            )
            return None
        return resume

    def _send_all(self, ranges: list[tuple[int, int]]) -> None:
        self._started, self._last_log = time.monotonic(), time.monotonic()
        self._sent_this_try = 0
        if not ranges:
            return
        with ThreadPoolExecutor(
            max_workers=min(self.parallel, len(ranges)), thread_name_prefix="cincopa-chunk"
        ) as pool:
            futures = [pool.submit(self._send_chunk, start, end) for start, end in ranges]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                self._stop.set()  # chunks not started yet return at once
                pool.shutdown(wait=True, cancel_futures=True)
                raise failed[0].exception()  # type: ignore[misc]
        self._log_progress(final=True)

    def _send_chunk(self, start: int, end: int) -> None:
        if self._halted():
            return
        settings = self.hook.settings
        retrying = Retrying(
            stop=stop_after_attempt(settings.retries + 1) | stop_after_delay(settings.retry_deadline),
            wait=BackoffWithRetryAfter(initial=1.0, maximum=30.0),
            retry=retry_if_exception_type(TransientError),
            before_sleep=self.hook.log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    if self._halted():
                        return
                    answer = self._post(start, end)
        except BaseException:
            self._stop.set()  # stop the other chunks before they send anything more
            raise
        self._acknowledge(start, end, answer)

    def _post(self, start: int, end: int) -> str:
        state, total = self._state, self._state.size
        headers = {
            "X-File-Name": quote(state.filename),
            # END is exclusive: Cincopa's uploader sends `bytes 0-1000/1000` for a whole 1000-byte file.
            "Content-Range": f"bytes {start}-{end}/{total}",
            "unique-id": state.unique_id,
            # The vendor library sends a bare `multipart/form-data` the server ignores; the body is raw bytes.
            "Content-Type": "application/octet-stream",
        }
        body = StreamingIterator(end - start, _RangeReader(self.source, start, end, self.filename))
        timeout = (self.hook.settings.timeout, max(CHUNK_READ_TIMEOUT, self.hook.settings.timeout))
        try:
            response = self.hook.session.post(state.upload_url, data=body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            raise TransientError(
                f"Chunk {start}-{end} of {self.filename} failed: {describe(exc)}", method="upload"
            ) from None
        return parse_upload_answer(
            self.filename, response.status_code, response.text, response.headers.get("Retry-After")
        )

    def _acknowledge(self, start: int, end: int, answer: str) -> None:
        created = _NEW_RESOURCE.search(answer)
        with self._lock:
            self._state.add_done(start, end)
            if created:
                self._state.id, self._state.rid = int(created.group(1)), created.group(2)
            self._sent_this_try += end - start
            self._notify()
            if self.progress_callback:
                self.progress_callback(self._state.bytes_done, self._state.size)
            self._log_progress()

    def _notify(self) -> None:
        if self._on_state is not None:
            self._on_state(self._state)

    def _log_progress(self, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last_log < PROGRESS_LOG_INTERVAL:
            return
        self._last_log = now
        done, total = self._state.bytes_done, self._state.size
        elapsed = max(now - self._started, 1e-6)
        rate = self._sent_this_try / elapsed
        left = (total - done) / rate if rate > 0 else float("inf")
        self.log.info(
            "Uploaded %s of %s bytes of %s (%.1f%%) at %.1f MB/s, %s left",
            done,
            total,
            self.filename,
            100.0 * done / total,
            rate / 1e6,
            "?" if left == float("inf") else f"{left:.0f}s",
        )


class _RangeReader:
    """File-like view of ``source[start:end]`` that reads one block at a time, on demand."""

    def __init__(self, source: Source, start: int, end: int, name: str) -> None:
        self.source, self.offset, self.end, self.name = source, start, end, name
        self._buffer = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        if not self._buffer:
            self._fill()
        size = len(self._buffer) if size is None or size < 0 else size
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return bytes(data)

    def _fill(self) -> None:
        wanted = min(self.source.block_size, self.end - self.offset)
        if wanted <= 0:
            return
        block = self.source.read_at(self.offset, wanted)
        if len(block) < wanted:
            raise CincopaInputError(
                f"The file {self.name} shrank during upload (nothing at byte {self.offset + len(block)}): "
                "upload a file that is no longer being written"
            )
        self.offset += wanted
        self._buffer = memoryview(block)


def parse_upload_answer(filename: str, status_code: int, text: str, retry_after: str | None = None) -> str:
    """
    Check one upload-host answer and return its text, or raise.

    HTTP 403 means the upload URL is not (or no longer) accepted. An answer containing ``error``
    is fatal whatever its other HTTP status (Cincopa's own clients stop
    there: quota, refused file); 429 and 5xx are retried; an answer with neither ``done`` nor a
    resource id is treated as truncated and the chunk is sent again.
    """
    flat = " ".join(text.split())
    said = redact(flat[:300])
    if status_code == 403:
        raise CincopaAuthError(
            f"The upload host refused {filename} with HTTP 403 ({said}): the upload URL expired or is invalid",
            method="upload",
            status_code=403,
        )
    if "error" in text.lower():
        raise CincopaUploadError(
            f"Cincopa refused the upload of {filename}: {said}", method="upload", status_code=status_code
        )
    if status_code in RETRYABLE_STATUS:
        raise TransientError(
            f"The upload host answered HTTP {status_code} for {filename}: {said}",
            method="upload",
            status_code=status_code,
            retry_after=seconds_from_header(retry_after),
        )
    if status_code != 200:
        raise CincopaHttpError(
            f"The upload host answered HTTP {status_code} for {filename}: {said}",
            method="upload",
            status_code=status_code,
        )
    if not _NEW_RESOURCE.search(text) and "done" not in text.lower():
        raise MalformedAnswerError(
            f"The upload host's answer for {filename} is not one it sends: {said!r}", method="upload"
        )
    return text
