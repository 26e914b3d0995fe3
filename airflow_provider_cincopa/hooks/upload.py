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
upload looks the asset up by file name, size and time (``find_created_asset`` in
``_upload_answers.py``, beside the reading of each answer) and adopts it, and starts over only
when no such asset exists. A chunk's body is ``_chunk_body.ChunkBody``.

The asset is made of the bytes of one version of the file: the chunk that completes the file is
sent last, alone, once every other chunk is acknowledged, and only after the source was checked
unchanged (:meth:`~airflow_provider_cincopa.hooks.sources.Source.check_unchanged`). A file written
to meanwhile fails the try with :class:`~airflow_provider_cincopa.exceptions.CincopaSourceChangedError`
and the host never receives the completing chunk, so no asset is made of mixed bytes.

Who owns what: :class:`ChunkedUpload` owns the source and the choices made once (chunk size,
parallelism, the caller's cancel event) and runs tries; each try is an :class:`UploadTry`, which
owns that try's status, error, stop flag, ranges in flight and counters, as s3transfer's
``TransferCoordinator`` owns a transfer's. The hook is reached only through :class:`UploadHost`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

import requests
from tenacity import Retrying, stop_after_attempt, stop_after_delay

from airflow_provider_cincopa.exceptions import (
    CincopaAuthError,
    CincopaInputError,
    CincopaUploadError,
)
from airflow_provider_cincopa.hooks._answers import number
from airflow_provider_cincopa.hooks._chunk_body import ChunkBody
from airflow_provider_cincopa.hooks._parallel import ChunkGate, Flight, auto_chunk_size
from airflow_provider_cincopa.hooks._transport import (
    BackoffWithRetryAfter,
    TransientError,
    describe,
    retry_when_retryable,
)
from airflow_provider_cincopa.hooks._upload_answers import NEW_RESOURCE, find_created_asset, parse_upload_answer
from airflow_provider_cincopa.hooks.sources import Source, open_source
from airflow_provider_cincopa.ranges import add_range
from airflow_provider_cincopa.redaction import REDACTED, printable
from airflow_provider_cincopa.types import UploadResult

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks._transport import ConnectionSettings

ProgressCallback = Callable[[int, int], None]

DEFAULT_PARALLEL_CHUNKS = 4
#: Cincopa's own uploader waits 2 minutes for a chunk's answer (wire-protocol page).
CHUNK_READ_TIMEOUT = 120.0
#: Seconds between two progress lines, whatever the speed (a ticker, not chunk answers, drives them).
PROGRESS_LOG_INTERVAL = 5.0
#: How long (at most; also bounded by the connection's retry_deadline) to look for an asset the
#: upload host made without naming it: a new asset may take a moment to show in ``asset.list``.
ASSET_LOOKUP_WAIT = 30.0
#: The most bytes sent after every other chunk was answered (the completing chunk, sent alone):
#: one disk block, so a capped path loses little parallelism to it.
COMPLETING_PIECE = 1024 * 1024


class UploadHost(Protocol):
    """
    What the upload engine needs of the hook: its connection settings, logger and session (the
    chunks are POSTed through it, so they share its request policy), a lookup of assets, and the
    retry log line. :class:`~airflow_provider_cincopa.hooks.cincopa.CincopaHook` implements it.
    """

    @property
    def settings(self) -> ConnectionSettings:
        """Timeout, retries and retry deadline."""
        ...

    @property
    def log(self) -> Any:
        """The logger upload lines go to."""
        ...

    @property
    def session(self) -> requests.Session:
        """The HTTP session chunks are sent through."""
        ...

    def list_assets(self, *, search: str | None = None) -> Iterable[dict[str, Any]]:
        """The assets whose caption, name or description matches ``search``."""
        ...

    def asset_exists(self, rid: str) -> bool:
        """True when an asset with this rid exists."""
        ...

    def log_retry(self, retry_state: Any) -> None:
        """Tenacity's ``before_sleep`` (given its ``RetryCallState``): one line per retried chunk."""
        ...


class UploadingHost(UploadHost, Protocol):
    """An :class:`UploadHost` that also hands out upload URLs and reports lineage: what ``upload_file`` runs on."""

    #: The hook's lineage switch (``hooks/_lineage.py``): None follows the connection's extra.
    lineage: bool | None

    def get_upload_url(
        self, *, gallery_fid: str | None = None, attach_to_rid: str | None = None, attach_type: str | None = None
    ) -> str:
        """A fresh upload URL (``asset.get_upload_url``)."""
        ...


@dataclass(frozen=True)
class StartOver:
    """A try's outcome when its upload surely made no asset and a fresh upload URL is needed."""

    why: str


@dataclass(repr=False)
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
    #: The source's identity when the upload started (``Source.version``): a later try resumes
    #: only a source with the same one, so it never completes an upload of another version.
    source_version: str | None = None
    #: When this upload URL was first used (epoch seconds): bounds the search for its asset.
    started_at: float = 0.0

    def __repr__(self) -> str:
        # Printed while debugging a DAG, it would put the upload hash in the task log.
        return (
            f"ResumeState(upload_url={mask_upload_url(self.upload_url)!r}, unique_id={self.unique_id!r}, "
            f"filename={printable(self.filename)!r}, size={self.size}, bytes_done={self.bytes_done}, "
            f"rid={self.rid!r}, id={self.id!r})"
        )

    __str__ = __repr__

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


def mask_upload_url(url: object) -> str:
    """An upload URL as it may be shown: scheme, host and path, the query (its ``hash``) masked."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" + (f"?{REDACTED}" if parts.query else "")


class UploadTry:
    """
    One try at sending what a :class:`ResumeState` lacks: it owns the try's status (``running``,
    then ``sent``, ``failed`` or ``cancelled``), its first error, the flag that stops its chunks,
    the ranges in flight and the byte counters. Chunk threads change it only through its methods.

    :param state: what to send; acknowledged ranges and the rid are recorded in it.
    :param cancel: the caller's cancel event (shared by every try of the upload).
    :param gate: admits this try's chunks into flight.
    :param on_state: called with ``state`` at the start and after each change.
    """

    def __init__(
        self,
        state: ResumeState,
        cancel: threading.Event,
        gate: ChunkGate,
        on_state: Callable[[ResumeState], None] | None,
    ) -> None:
        self.state = state
        self.gate = gate
        self.status = "running"
        self.error: BaseException | None = None
        #: (start, end) of each chunk between its admission and its answer.
        self.in_flight: set[tuple[int, int]] = set()
        #: True once a chunk was sent again after an attempt that may have reached the host.
        self.resent = False
        self.sent = 0  # body bytes handed to the socket in this try, resent ones included
        self.base_done = state.bytes_done
        self.started = time.monotonic()
        self._cancel = cancel
        self._stop = threading.Event()
        self._on_state = on_state
        self._lock = threading.Lock()

    def halted(self) -> bool:
        """True once the try failed or the caller cancelled: chunks not yet sending return."""
        return self._stop.is_set() or self._cancel.is_set()

    @property
    def cancelled(self) -> bool:
        """The caller asked the upload to stop."""
        return self._cancel.is_set()

    def fail(self, error: BaseException) -> None:
        """Record the try's first error and stop its other chunks before they send more."""
        with self._lock:
            if self.error is None:
                self.error, self.status = error, "failed"
        self._stop.set()

    def finish(self) -> None:
        """Every chunk of the try returned: ``sent``, unless it failed or was cancelled."""
        with self._lock:
            if self.status == "running":
                self.status = "cancelled" if self._cancel.is_set() else "sent"

    @contextmanager
    def flying(self, start: int, end: int) -> Iterator[None]:
        """Count a chunk in flight from its admission until it was answered or gave up."""
        with self._lock:
            self.in_flight.add((start, end))
        try:
            yield
        finally:
            with self._lock:
                self.in_flight.discard((start, end))

    def sending_again(self) -> None:
        """A chunk is sent again: its earlier attempt may have reached the host."""
        with self._lock:
            self.resent = True

    def count_sent(self, n: int) -> None:
        """``n`` more body bytes went to the socket."""
        with self._lock:
            self.sent += n
        self.gate.sent(n)

    def acknowledge(self, start: int, end: int, answer: str) -> tuple[int, int]:
        """Record a chunk the host took (and the asset its answer names); the bytes done and total."""
        created = NEW_RESOURCE.search(answer)
        with self._lock:
            self.state.add_done(start, end)
            if created:
                self.state.id, self.state.rid = int(created.group(1)), created.group(2)
            self._notify()
            return self.state.bytes_done, self.state.size

    def adopt(self, rid: str, id: int) -> None:
        """Record the asset this try's upload made without naming it."""
        with self._lock:
            self.state.rid, self.state.id = rid, id
            self._notify()

    def notify(self) -> None:
        """Hand the state to ``on_state`` (at the start of the try)."""
        with self._lock:
            self._notify()

    def snapshot(self) -> tuple[int, int, int]:
        """Bytes sent in this try, bytes acknowledged, total: for a progress line."""
        with self._lock:
            return self.sent, self.state.bytes_done, self.state.size

    def _notify(self) -> None:
        if self._on_state is not None:
            self._on_state(self.state)


class ChunkedUpload:
    """
    One file's upload: validates the source, then runs tries that send its missing ranges in
    parallel, the completing one last (see the module's docstring).

    Memory stays bounded by ``max_parallel_chunks`` read blocks (1 MiB from disk; from object
    storage 512 KiB plus 512 KiB read-ahead), whatever the file and chunk size: chunks are streamed,
    not held.

    :param host: the hook (its session, connection settings, logger and asset lookups).
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
        host: UploadHost,
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
        self.host = host
        self.log = host.log
        self.progress_callback = progress_callback
        self.source: Source = open_source(source, source_conn_id)
        self.chunk_size = auto_chunk_size(self.source.size, self.parallel) if chunk_size is None else int(chunk_size)
        self.filename = filename or self.source.name
        #: The file name as log lines and messages show it (control characters escaped).
        self.shown = printable(self.filename)
        self._cancel = cancel or threading.Event()

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
        try:
            state = self._usable(resume)
            if state is not None:
                outcome = self._resume(state, on_state)
                if isinstance(outcome, UploadResult):
                    return outcome
                self.log.warning("%s: starting a new upload", outcome.why)
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
                outcome = self._try(fresh, on_state, resumed=False)
                if isinstance(outcome, UploadResult):
                    return outcome
                self.log.warning("%s: uploading it again with a new upload URL", outcome.why)
            raise CincopaUploadError(
                f"Cincopa took every byte of {self.shown} twice but never answered with a new resource id, "
                "and no asset with this file name and size appeared in asset.list",
                method="upload",
            )
        finally:
            self.source.close()

    def _resume(self, state: ResumeState, on_state: Callable[[ResumeState], None] | None) -> UploadResult | StartOver:
        """Finish a previous try's upload, or say why it has to start over."""
        if state.rid is not None:
            # A cleared task must not hand on a rid that was deleted meanwhile.
            if self.host.asset_exists(state.rid):
                self.log.info("Upload of %s already finished as asset %s: not sent again", self.shown, state.rid)
                return _result(state)
            return StartOver(f"Asset {state.rid}, made from {self.shown} by an earlier try, no longer exists")
        self.log.info(
            "Resuming upload of %s: %d of %d bytes were already acknowledged",
            self.shown,
            state.bytes_done,
            state.size,
        )
        return self._try(state, on_state, resumed=True)

    def _try(
        self, state: ResumeState, on_state: Callable[[ResumeState], None] | None, *, resumed: bool
    ) -> UploadResult | StartOver:
        """
        Send what ``state`` lacks: the result, or :class:`StartOver` when the asset surely was not
        made (every byte acknowledged and no asset found, or a resumed upload the host no longer takes).
        """
        attempt = UploadTry(state, self._cancel, ChunkGate(self.parallel, self.log), on_state)
        attempt.notify()
        try:
            self._send_all(attempt)
        except (CincopaAuthError, CincopaUploadError) as exc:
            if attempt.cancelled or not (resumed or attempt.resent):
                raise
            # A saved upload URL expired or is spent, or a chunk resent after its answer was lost
            # was refused: either way the file may be complete already (a worker killed right
            # after the completing chunk). Nothing public says what the host answers then.
            self.log.warning(
                "The upload host refused the %s upload of %s (%s): looking for the asset it may have made",
                "saved" if resumed else "retried",
                self.shown,
                exc,
            )
            # A saved upload's asset, if any, was made by an earlier try: listed by now.
            found = self._adopt(attempt, wait=0.0 if resumed else None)
            if found is not None:
                return found
            if not resumed:
                raise
            return StartOver(f"No asset was made from the saved upload of {self.shown}")
        if attempt.status == "cancelled" and state.rid is None:
            raise CincopaUploadError(
                f"The upload of {self.shown} was cancelled after {state.bytes_done} of {state.size} bytes",
                method="upload",
            )
        if state.rid is None or state.id is None:
            self.log.warning(
                "Cincopa took every byte of %s but no answer named the new asset: looking it up", self.shown
            )
            return self._adopt(attempt) or StartOver(f"No asset was made from {self.shown}")
        return _result(state)

    def _adopt(self, attempt: UploadTry, wait: float | None = None) -> UploadResult | None:
        """Find the asset this upload made without naming it, record it in the state, return it."""
        state = attempt.state
        if wait is None:
            wait = min(ASSET_LOOKUP_WAIT, self.host.settings.retry_deadline)
        item = find_created_asset(
            self.host, filename=state.filename, size=state.size, since=state.started_at, wait=wait
        )
        if item is None:
            return None
        attempt.adopt(str(item["rid"]), number(item.get("id")) or 0)
        self.log.info("Found asset %s made from %s: adopting it", state.rid, self.shown)
        return _result(state)

    def _usable(self, resume: ResumeState | None) -> ResumeState | None:
        if resume is None:
            return None
        if resume.filename != self.filename:
            why = f"it is for the file name {printable(resume.filename)!r}"
        elif resume.size != self.source.size:
            why = f"it is for {resume.size} bytes and the file now has {self.source.size}"
        elif resume.source_version is not None and resume.source_version != self.source.version:
            why = f"the file was replaced or modified since (version {resume.source_version} -> {self.source.version})"
        else:
            return resume
        self.log.warning("Not resuming the saved upload of %s: %s; starting a new upload", self.shown, why)
        return None

    def _send_all(self, attempt: UploadTry) -> None:
        """
        Send the try's missing ranges: all but one in parallel, then, once every one of them is
        acknowledged and the source is checked unchanged, the one that completes the file.
        """
        ranges = attempt.state.missing(self.chunk_size)
        if not ranges:
            attempt.finish()
            return
        others, completing = hold_back_completing(ranges)
        ticking = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(attempt, ticking), name="cincopa-progress", daemon=True)
        ticker.start()
        try:
            with ThreadPoolExecutor(
                max_workers=min(self.parallel, len(ranges)), thread_name_prefix="cincopa-chunk"
            ) as pool:
                self._send_ranges(pool, attempt, others, completing=False)
                if not attempt.halted():
                    self._send_ranges(pool, attempt, [completing], completing=True)
        finally:
            ticking.set()
            ticker.join()
        attempt.finish()
        if attempt.status == "sent":
            self._log_final(attempt)

    def _send_ranges(
        self, pool: ThreadPoolExecutor, attempt: UploadTry, ranges: list[tuple[int, int]], *, completing: bool
    ) -> None:
        """Send ``ranges`` and wait for their answers; the first error stops the others and is raised."""
        futures: list[Future[None]] = [
            pool.submit(self._send_chunk, attempt, start, end, completing) for start, end in ranges
        ]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [exc for f in done if (exc := f.exception()) is not None]
        if failed:
            attempt.fail(failed[0])
            pool.shutdown(wait=True, cancel_futures=True)  # chunks not started yet return at once
            raise failed[0]

    def _tick(self, attempt: UploadTry, stopped: threading.Event) -> None:
        while not stopped.wait(PROGRESS_LOG_INTERVAL):
            self._log_progress(attempt)

    def _send_chunk(self, attempt: UploadTry, start: int, end: int, completing: bool) -> None:
        with attempt.gate.slot(attempt.halted) as flight:
            if flight is not None:
                self._send_admitted_chunk(attempt, start, end, flight, completing)

    def _send_admitted_chunk(self, attempt: UploadTry, start: int, end: int, flight: Flight, completing: bool) -> None:
        settings = self.host.settings
        retrying = Retrying(
            stop=stop_after_attempt(settings.retries + 1) | stop_after_delay(settings.retry_deadline),
            wait=BackoffWithRetryAfter(initial=1.0, maximum=30.0),
            # A chunk may be sent again (the host takes a repeated range): transient failures are
            # retried as any idempotent call's, an answer not in the host's format once at most.
            retry=retry_when_retryable(idempotent=True),
            before_sleep=self.host.log_retry,
            reraise=True,
        )
        with attempt.flying(start, end):
            try:
                for try_ in retrying:
                    with try_:
                        if attempt.halted():
                            return
                        if try_.retry_state.attempt_number > 1:
                            attempt.sending_again()
                            flight.sending_again()
                        if completing:
                            # Right before the completing chunk: a file written to since it was opened
                            # must not become an asset (checked again once its last block is read).
                            self.source.check_unchanged()
                        answer = self._post(attempt, start, end, flight, completing)
            except BaseException as exc:
                attempt.fail(exc)  # stop the other chunks before they send anything more
                raise
            done, total = attempt.acknowledge(start, end, answer)
        if self.progress_callback:
            self.progress_callback(done, total)

    def _post(self, attempt: UploadTry, start: int, end: int, flight: Flight, completing: bool) -> str:
        state = attempt.state
        headers = {
            "X-File-Name": quote(state.filename),
            # END is exclusive: Cincopa's uploader sends `bytes 0-1000/1000` for a whole 1000-byte file.
            "Content-Range": f"bytes {start}-{end}/{state.size}",
            "unique-id": state.unique_id,
            # What Cincopa's own uploader sends (wire-protocol page, "Sending bytes to the upload URL"):
            # a literal multipart/form-data with no boundary, over a body of raw bytes, not a form.
            "Content-Type": "multipart/form-data",
        }
        body = ChunkBody(
            self.source,
            start,
            end,
            self.shown,
            attempt.count_sent,
            flight.body_sent,
            before_last=self.source.check_unchanged if completing else None,
        )
        timeout = (self.host.settings.timeout, max(CHUNK_READ_TIMEOUT, self.host.settings.timeout))
        try:
            # requests takes any iterable of bytes-like blocks; its stubs say bytes.
            response = self.host.session.post(
                state.upload_url,
                data=body,  # type: ignore[arg-type]
                headers=headers,
                timeout=timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"Chunk {start}-{end} of {self.shown} failed: {describe(exc)}", method="upload"
            ) from None
        return parse_upload_answer(self.shown, response.status_code, response.text, response.headers.get("Retry-After"))

    def _log_progress(self, attempt: UploadTry) -> None:
        sent, acknowledged, total = attempt.snapshot()
        elapsed = max(time.monotonic() - attempt.started, 1e-6)
        rate = sent / elapsed
        # Bytes on the wire, not only acknowledged ones: one big chunk still shows it moving.
        moving = min(total, max(acknowledged, attempt.base_done + sent))
        # 100 % is said once, by the final line, when the host has acknowledged every byte.
        percent = min(99.9, 100.0 * moving / total)
        left = (total - moving) / rate if rate > 0 else None
        self.log.info(
            "Uploading %s: %s of %s bytes sent (%.1f%%), %s acknowledged, %.1f MB/s, %s left",
            self.shown,
            moving,
            total,
            percent,
            acknowledged,
            rate / 1e6,
            "?" if left is None else f"{left:.0f}s",
        )

    def _log_final(self, attempt: UploadTry) -> None:
        sent, _, total = attempt.snapshot()
        elapsed = max(time.monotonic() - attempt.started, 1e-6)
        self.log.info(
            "Uploaded %s: %s bytes (100%%), %s sent in this try in %.1fs at %.1f MB/s",
            self.shown,
            total,
            sent,
            elapsed,
            sent / elapsed / 1e6,
        )


def hold_back_completing(
    ranges: list[tuple[int, int]], piece: int = COMPLETING_PIECE
) -> tuple[list[tuple[int, int]], tuple[int, int]]:
    """
    Split the missing ``ranges`` into those sent together and the one sent last, alone, which
    completes the file: the tail of the shortest range (ties: the last), at most ``piece`` bytes,
    cut a whole number of ``piece`` from its range's start (so object-storage reads still tile).
    Its range's head goes with the others, so little waits for their answers. A file of one range
    is not cut: with nothing to overlap, a cut would only add a request.
    """
    start, end = min(reversed(ranges), key=lambda r: r[1] - r[0])
    others = [r for r in ranges if r != (start, end)]
    cut = start + (end - start - 1) // piece * piece
    if others and cut > start:
        return [*others, (start, cut)], (cut, end)
    return others, (start, end)


def _result(state: ResumeState) -> UploadResult:
    return UploadResult(rid=str(state.rid), id=state.id or 0, filename=state.filename, size=state.size)
