"""
Chunked, parallel, resumable uploads to Cincopa's upload host.

Protocol (wire-protocol page, as Cincopa's own uploader sends it): every chunk is a POST of raw
bytes to the same upload URL with ``X-File-Name``, ``Content-Range: bytes START-END/TOTAL`` where
END is *exclusive*, and one ``unique-id`` per file. Answers are plain text; the chunk that
completes the file answers ``new resource id <id> <rid>``. Chunks may arrive in any order and
the server takes a repeated chunk again, so a chunk is always safe to retry.

What a chunk sent *after* the file completed is answered is not public (the same rid, a plain
``done``, a refusal: our guess is any of them). So whenever every byte is acknowledged but no
answer named the asset (a lost answer, a worker killed right after the completing chunk), the
upload looks the asset up by file name, size and time (:func:`find_created_asset`) and adopts it,
and starts over only when no such asset exists.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from airflow_provider_cincopa.exceptions import (
    CincopaAuthError,
    CincopaHttpError,
    CincopaInputError,
    CincopaUploadError,
)
from airflow_provider_cincopa.hooks._parallel import ChunkGate, Flight, auto_chunk_size
from airflow_provider_cincopa.hooks._transport import (
    BackoffWithRetryAfter,
    MalformedAnswerError,
    TransientError,
    describe,
    is_transient_status,
    seconds_from_header,
)
from airflow_provider_cincopa.hooks.sources import Source, open_source
from airflow_provider_cincopa.ranges import add_range
from airflow_provider_cincopa.redaction import redact
from airflow_provider_cincopa.types import UploadResult

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

ProgressCallback = Callable[[int, int], None]

DEFAULT_PARALLEL_CHUNKS = 4
#: Cincopa's own uploader waits 2 minutes for a chunk's answer (wire-protocol page).
CHUNK_READ_TIMEOUT = 120.0
#: Seconds between two progress lines, whatever the speed (a ticker, not chunk answers, drives them).
PROGRESS_LOG_INTERVAL = 5.0
#: How long (at most; also bounded by the connection's retry_deadline) to look for an asset the
#: upload host made without naming it: a new asset may take a moment to show in ``asset.list``.
ASSET_LOOKUP_WAIT = 30.0
#: Slack for clocks when matching an asset's ``modified`` time against the upload's start.
CLOCK_SKEW = 600.0
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
    #: When this upload URL was first used (epoch seconds): bounds the search for its asset.
    started_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict for ``task_state_store``."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: Any) -> ResumeState | None:
        """Read a stored state back; None when it is missing or not ours."""
        try:
            state = cls(**value)
        except TypeError:
            return None
        valid = (
            isinstance(state.upload_url, str)
            and isinstance(state.size, int)
            and isinstance(state.done, list)
            and all(isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) for x in r) for r in state.done)
        )
        return state if valid else None

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

    Memory stays bounded by ``max_parallel_chunks`` read blocks (1 MiB from disk; from object
    storage 512 KiB plus 512 KiB read-ahead), whatever the file and chunk size: chunks are streamed,
    not held.

    :param hook: the hook whose session, connection settings and logger are used.
    :param source: local path, object-storage URL or ``ObjectStoragePath``.
    :param source_conn_id: the connection object storage reads ``source`` with.
    :param filename: the name Cincopa shows (default: the source's name).
    :param chunk_size: bytes per request; by default 16 to 47 MiB by the file's size
        (:func:`~airflow_provider_cincopa.hooks._parallel.auto_chunk_size`).
    :param max_parallel_chunks: the most requests in flight at once. The upload starts with one
        and keeps this many only where they move the bytes faster (``_parallel.ChunkGate``).
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
        self.parallel = DEFAULT_PARALLEL_CHUNKS if max_parallel_chunks is None else int(max_parallel_chunks)
        if chunk_size is not None and int(chunk_size) <= 0:
            raise CincopaInputError(f"chunk_size must be a positive number of bytes, got {chunk_size!r}")
        if self.parallel <= 0:
            raise CincopaInputError(f"max_parallel_chunks must be at least 1, got {max_parallel_chunks!r}")
        if filename is not None and not filename.strip():
            raise CincopaInputError("filename, when given, must not be blank")
        self.hook = hook
        self.log = hook.log
        self.progress_callback = progress_callback
        self.source: Source = open_source(source, source_conn_id)
        self.chunk_size = auto_chunk_size(self.source.size, self.parallel) if chunk_size is None else int(chunk_size)
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
            if state is not None:
                result = self._resume(state)
                if result is not None:
                    return result
            # A second fresh start only when the first one's asset surely does not exist (every
            # byte acknowledged, no rid, nothing found); a third would loop on a broken server.
            for _ in range(2):
                fresh = ResumeState(
                    upload_url=get_upload_url(),
                    unique_id=f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:12]}",
                    filename=self.filename,
                    size=self.source.size,
                    source_version=self.source.version,
                    started_at=time.time(),
                )
                result = self._upload(fresh)
                if result is not None:
                    return result
                self.log.warning("No asset was made from %s: uploading it again with a new upload URL", self.filename)
            raise CincopaUploadError(
                f"Cincopa took every byte of {self.filename} twice but never answered with a new resource id, "
                "and no asset with this file name and size appeared in asset.list",
                method="upload",
            )
        finally:
            self.source.close()

    def _resume(self, state: ResumeState) -> UploadResult | None:
        """Finish a previous try's upload; None when it has to start over."""
        if state.rid is not None:
            # A cleared task must not hand on a rid that was deleted meanwhile.
            if self.hook.asset_exists(state.rid):
                self.log.info("Upload of %s already finished as asset %s: not sent again", self.filename, state.rid)
                return UploadResult(rid=state.rid, id=state.id or 0, filename=state.filename, size=state.size)
            self.log.warning(
                "Asset %s, made from %s by an earlier try, no longer exists: uploading again", state.rid, self.filename
            )
            return None
        self.log.info(
            "Resuming upload of %s: %d of %d bytes were already acknowledged",
            self.filename,
            state.bytes_done,
            state.size,
        )
        return self._upload(state, resumed=True)

    def _upload(self, state: ResumeState, *, resumed: bool = False) -> UploadResult | None:
        """
        Send what ``state`` lacks; the result, or None when the asset surely was not made (every
        byte acknowledged and no asset found, or a resumed upload the host no longer takes).
        """
        self._state, self._stop, self._retried = state, threading.Event(), False
        self._notify()
        try:
            self._send_all(state.missing(self.chunk_size))
        except (CincopaAuthError, CincopaUploadError) as exc:
            if self._cancel.is_set() or not (resumed or self._retried):
                raise
            # A saved upload URL expired or is spent, or a chunk resent after its answer was lost
            # was refused: either way the file may be complete already (a worker killed right
            # after the completing chunk). Nothing public says what the host answers then.
            self.log.warning(
                "The upload host refused the %s upload of %s (%s): looking for the asset it may have made",
                "saved" if resumed else "retried",
                self.filename,
                exc,
            )
            # A saved upload's asset, if any, was made by an earlier try: listed by now.
            found = self._adopt(state, wait=0.0 if resumed else None)
            if found is None and not resumed:
                raise
            if found is None:
                self.log.warning("No asset was made from the saved upload of %s: starting a new upload", self.filename)
            return found
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
            self.log.warning(
                "Cincopa took every byte of %s but no answer named the new asset: looking it up", self.filename
            )
            return self._adopt(state)
        return UploadResult(rid=state.rid, id=state.id, filename=state.filename, size=state.size)

    def _adopt(self, state: ResumeState, wait: float | None = None) -> UploadResult | None:
        """Find the asset this upload made without naming it, record it in the state, return it."""
        if wait is None:
            wait = min(ASSET_LOOKUP_WAIT, self.hook.settings.retry_deadline)
        item = find_created_asset(
            self.hook, filename=state.filename, size=state.size, since=state.started_at, wait=wait
        )
        if item is None:
            return None
        state.rid, state.id = str(item["rid"]), _int(item.get("id"))
        self.log.info("Found asset %s made from %s: adopting it", state.rid, self.filename)
        self._state = state
        self._notify()
        return UploadResult(rid=state.rid, id=state.id, filename=state.filename, size=state.size)

    def _halted(self) -> bool:
        return self._stop.is_set() or self._cancel.is_set()

    def _usable(self, resume: ResumeState | None) -> ResumeState | None:
        if resume is None:
            return None
        if resume.filename != self.filename:
            why = f"it is for the file name {resume.filename!r}"
        elif resume.size != self.source.size:
            why = f"it is for {resume.size} bytes and the file now has {self.source.size}"
        elif resume.source_version is not None and resume.source_version != self.source.version:
            why = f"the file was replaced or modified since (version {resume.source_version} -> {self.source.version})"
        else:
            return resume
        self.log.warning("Not resuming the saved upload of %s: %s; starting a new upload", self.filename, why)
        return None

    def _send_all(self, ranges: list[tuple[int, int]]) -> None:
        self._started = time.monotonic()
        self._sent_this_try = 0
        self._base_done = self._state.bytes_done
        self._gate = ChunkGate(self.parallel, self.log)
        if not ranges:
            return
        ticking = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(ticking,), name="cincopa-progress", daemon=True)
        ticker.start()
        try:
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
        finally:
            ticking.set()
            ticker.join()
        if not self._halted():
            self._log_final()

    def _tick(self, stopped: threading.Event) -> None:
        while not stopped.wait(PROGRESS_LOG_INTERVAL):
            self._log_progress()

    def _send_chunk(self, start: int, end: int) -> None:
        with self._gate.slot(self._halted) as flight:
            if flight is not None:
                self._send_admitted_chunk(start, end, flight)

    def _send_admitted_chunk(self, start: int, end: int, flight: Flight) -> None:
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
                    if attempt.retry_state.attempt_number > 1:
                        self._retried = True  # an earlier attempt may have reached the host
                        flight.sending_again()
                    answer = self._post(start, end, flight)
        except BaseException:
            self._stop.set()  # stop the other chunks before they send anything more
            raise
        self._acknowledge(start, end, answer)

    def _post(self, start: int, end: int, flight: Flight) -> str:
        state, total = self._state, self._state.size
        headers = {
            "X-File-Name": quote(state.filename),
            # END is exclusive: Cincopa's uploader sends `bytes 0-1000/1000` for a whole 1000-byte file.
            "Content-Range": f"bytes {start}-{end}/{total}",
            "unique-id": state.unique_id,
            # What Cincopa's own uploader sends (wire-protocol page, "Sending bytes to the upload URL"):
            # a literal multipart/form-data with no boundary, over a body of raw bytes, not a form.
            "Content-Type": "multipart/form-data",
        }
        body = ChunkBody(self.source, start, end, self.filename, self._count_sent, flight.body_sent)
        timeout = (self.hook.settings.timeout, max(CHUNK_READ_TIMEOUT, self.hook.settings.timeout))
        try:
            # requests takes any iterable of bytes-like blocks; its stubs say bytes.
            response = self.hook.session.post(
                state.upload_url,
                data=body,  # type: ignore[arg-type]
                headers=headers,
                timeout=timeout,
            )
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
            self._notify()
            if self.progress_callback:
                self.progress_callback(self._state.bytes_done, self._state.size)

    def _count_sent(self, n: int) -> None:
        with self._lock:
            self._sent_this_try += n
        self._gate.sent(n)

    def _notify(self) -> None:
        if self._on_state is not None:
            self._on_state(self._state)

    def _log_progress(self) -> None:
        with self._lock:
            sent, acknowledged, total = self._sent_this_try, self._state.bytes_done, self._state.size
        elapsed = max(time.monotonic() - self._started, 1e-6)
        rate = sent / elapsed
        # Bytes on the wire, not only acknowledged ones: one big chunk still shows it moving.
        moving = min(total, max(acknowledged, self._base_done + sent))
        # 100 % is said once, by the final line, when the host has acknowledged every byte.
        percent = min(99.9, 100.0 * moving / total)
        left = (total - moving) / rate if rate > 0 else None
        self.log.info(
            "Uploading %s: %s of %s bytes sent (%.1f%%), %s acknowledged, %.1f MB/s, %s left",
            self.filename,
            moving,
            total,
            percent,
            acknowledged,
            rate / 1e6,
            "?" if left is None else f"{left:.0f}s",
        )

    def _log_final(self) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self.log.info(
            "Uploaded %s: %s bytes (100%%), %s sent in this try in %.1fs at %.1f MB/s",
            self.filename,
            self._state.size,
            self._sent_this_try,
            elapsed,
            self._sent_this_try / elapsed / 1e6,
        )


class ChunkBody:
    """
    ``source[start:end]`` as a request body of known length, read one block at a time.

    requests sends an object with ``__len__`` and ``__iter__`` (and no ``read``) with that
    ``Content-Length``, and urllib3 hands each item it yields straight to ``socket.sendall``. So a
    whole block (1 MiB from disk) goes to the kernel in one call, read with ``preadv`` into one
    buffer reused for every block of the chunk: no Python loop per 16 KiB (what a file-like body
    costs: urllib3 reads it 16 KiB at a time), no slicing copies, no fresh 1 MiB allocation per
    block. Each block is sent before the next is read, so reusing the buffer is safe, and memory
    stays one block per chunk in flight.

    :param source: what to read.
    :param start: first byte.
    :param end: exclusive end.
    :param name: the file name, for errors.
    :param on_read: called with the size of each block read (progress).
    :param on_end: called once the last block went to the socket (the next chunk may start).
    """

    def __init__(
        self,
        source: Source,
        start: int,
        end: int,
        name: str,
        on_read: Callable[[int], None],
        on_end: Callable[[], None],
    ) -> None:
        self.source, self.start, self.end, self.name = source, start, end, name
        self.on_read, self.on_end = on_read, on_end

    def __len__(self) -> int:
        return self.end - self.start

    def __iter__(self) -> Iterator[memoryview]:
        offset, block = self.start, min(self.source.block_size, self.end - self.start)
        read_into = getattr(self.source, "read_into", None)
        buffer = memoryview(bytearray(block if read_into is not None else 0))
        while offset < self.end:
            wanted = min(block, self.end - offset)
            if read_into is not None:
                data = buffer[: read_into(offset, buffer[:wanted])]
            else:  # a source without read_into (object storage): its bytes as they come
                data = memoryview(self.source.read_at(offset, wanted))
            if len(data) < wanted:
                raise CincopaInputError(
                    f"The file {self.name} shrank during upload (nothing at byte {offset + len(data)}): "
                    "upload a file that is no longer being written"
                )
            offset += wanted
            self.on_read(wanted)
            yield data
        self.on_end()  # urllib3 asks for the next block only after sendall() took this one


def parse_upload_answer(filename: str, status_code: int, text: str, retry_after: str | None = None) -> str:
    """
    Check one upload-host answer and return its text, or raise.

    The status decides first. HTTP 403: the upload URL is not (or no longer) accepted. 429 and
    every 5xx are transient whatever the body says: a gateway's error page or a bare ``internal
    error`` contains the word ``error`` too. Only a non-retryable answer whose text says ``error``
    is Cincopa refusing the file (quota, refused file), fatal as Cincopa's own clients treat it.
    A 200 with neither ``done`` nor a resource id is treated as truncated and sent again.
    """
    flat = " ".join(text.split())
    said = redact(flat[:300])
    if status_code == 403:
        raise CincopaAuthError(
            f"The upload host refused {filename} with HTTP 403 ({said}): the upload URL expired or is invalid",
            method="upload",
            status_code=403,
        )
    if is_transient_status(status_code):
        raise TransientError(
            f"The upload host answered HTTP {status_code} for {filename}: {said}",
            method="upload",
            status_code=status_code,
            retry_after=seconds_from_header(retry_after),
        )
    if "error" in text.lower():
        raise CincopaUploadError(
            f"Cincopa refused the upload of {filename}: {said}", method="upload", status_code=status_code
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


def find_created_asset(
    hook: CincopaHook, *, filename: str, size: int, since: float, wait: float
) -> dict[str, Any] | None:
    """
    The asset an upload made without naming it: same file name and size, not older than the
    upload (give or take :data:`CLOCK_SKEW`), looked up through ``asset.list`` for up to ``wait``
    seconds, since a new asset may take a moment to be listed.

    Returns None when there is none, and also when several match: adopting the wrong one would
    hand another file's rid downstream, a duplicate upload is the lesser harm.
    """
    deadline = time.monotonic() + wait
    pause = 1.0
    while True:
        matches = [
            item
            for item in hook.list_assets(search=filename)
            if item.get("rid")
            and str(item.get("filename") or "") == filename
            and _item_size(item) == size
            and _not_before(item, since - CLOCK_SKEW)
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            hook.log.warning(
                "%d assets match %s (%d bytes): %s; not guessing which one this upload made",
                len(matches),
                filename,
                size,
                ", ".join(str(m["rid"]) for m in matches),
            )
            return None
        if time.monotonic() + pause > deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 8.0)


def _item_size(item: dict[str, Any]) -> int | None:
    # Which field carries the size is not documented: the emulator's shape follows the docs'
    # asset.list example (filesize, versions.original.filesize); accept the plausible others.
    versions = item.get("versions")
    original = versions.get("original") if isinstance(versions, dict) else None
    if not isinstance(original, dict):
        original = {}
    for value in (item.get("filesize"), item.get("size"), original.get("filesize")):
        number = _int(value, None)
        if number is not None:
            return number
    return None


def _not_before(item: dict[str, Any], since: float) -> bool:
    # An unreadable or missing time does not exclude an asset: name and size still have to match.
    raw = str(item.get("modified") or item.get("uploaded") or item.get("created") or "")
    try:
        when = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", raw.replace("Z", "+00:00")))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp() >= since


def _int(value: Any, default: Any = 0) -> Any:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
