"""
How many chunks an upload keeps in flight, and how big they are when nobody said.

Parallel chunks pay where one connection cannot fill the path (a long or lossy route, a per-
connection limit): there, four in flight move nearly four times the bytes of one. Where one
connection already moves hundreds of MB/s (a fast LAN, a loopback), more connections only cost
CPU on both ends, and move fewer bytes. :class:`ChunkGate` tells the two apart by measuring one
chunk in flight for a fraction of a second: below :data:`FAST` the upload opens to
``max_parallel_chunks`` at once; at or above it, one chunk sends at a time. Trying two on a fast
path to see whether they help costs a noticeable share of the upload (the trial and the second
chunk's drain at the slower rate), for the benefit of a rare path (10 Gbit/s with a
per-connection limit), so it is not tried.

"One at a time" counts only chunks still *sending*: once a chunk's last byte is in the socket,
the next one starts while the host reads what is buffered and answers. Waiting for each answer
would leave the wire idle for a turnaround per chunk, and on a real route for a whole round trip
plus the host's store time. The upload never has more than ``max_parallel_chunks`` in flight,
sending or answered, which memory and crash-resume bounds rely on. (docs/performance.md has the
measurements behind each of these choices.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

MiB = 1024 * 1024
#: Chunk sizes chosen when none is given: at least 16 MiB, at most 47 MiB, the largest whole MiB
#: within the 50 MB chunks of Cincopa's browser uploader (wire-protocol page): the biggest body
#: the upload host is known to take. Bigger chunks are faster still on a loopback, but a front
#: end's body-size limit would refuse them in production, and no public page says where it is.
MIN_AUTO_CHUNK, MAX_AUTO_CHUNK = 16 * MiB, 47 * MiB
#: One chunk moving at least this many bytes/s fills the path: the upload stays at one.
FAST = 200e6
#: One chunk's bytes are counted from WARMUP seconds after it started (the first moments only
#: fill socket buffers), over PROBE_SECONDS. Its rate is rough (socket buffers hold MBs, and a
#: chunk's last bytes leave before its answer), but it is only compared with FAST, which lies
#: far from the rates either case shows: an order of magnitude below a fast path's, above a
#: capped connection's.
WARMUP, PROBE_SECONDS = 0.03, 0.08
#: How often chunks waiting for room look at the clock (they close the window when no byte moves).
POLL = 0.02


def auto_chunk_size(size: int, max_parallel: int) -> int:
    """
    The chunk size for a file of ``size`` bytes when none was given.

    Big enough that a request's turnaround (the host reads what is still buffered, answers, and
    the next request starts) is a small share of its time; small enough that the file still has
    two chunks for each one in flight, so that parallel chunks have something to work on. Whole
    MiB, between 16 and 47 MiB.
    """
    wanted = -(-size // (2 * max(1, max_parallel)))  # ceiling
    wanted = -(-wanted // MiB) * MiB
    return max(MIN_AUTO_CHUNK, min(MAX_AUTO_CHUNK, wanted))


class Flight:
    """
    One admitted chunk: in flight until its slot closes, *sending* until its body has all gone to
    the socket (:meth:`body_sent`). Made by :meth:`ChunkGate.slot`.
    """

    __slots__ = ("_gate", "sending")

    def __init__(self, gate: ChunkGate) -> None:
        self._gate, self.sending = gate, True

    def body_sent(self) -> None:
        """Every byte of the body is in the socket: the next chunk may start sending."""
        self._gate._stop_sending(self)

    def sending_again(self) -> None:
        """A retry sends the body again (it takes no new room: it already holds its slot)."""
        self._gate._start_sending(self)


class ChunkGate:
    """
    Admits chunks into flight: one sending at first, then up to ``maximum`` once one chunk was
    measured below :data:`FAST` (see the module's docstring); decided once per upload try.

    A chunk whose body has all gone to the socket no longer counts as sending while it waits for
    the host's answer, so the next chunk starts then: one chunk at a time still leaves the wire
    no idle gap between chunks (the host's time to drain and answer, requests' time to start
    the next request). In flight, sending or answered, are never more than ``maximum`` chunks.

    Thread-safe: chunk threads enter :meth:`slot` around each chunk, report the bytes they hand
    to the socket with :meth:`sent`, and call :meth:`Flight.body_sent` after the last of them.

    :param maximum: the most chunks in flight (``max_parallel_chunks``).
    :param log: where the decision is logged (the hook's logger).
    :param clock: seconds, monotonic (tests give their own).
    """

    def __init__(self, maximum: int, log: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.maximum = maximum
        self.limit = 1  # chunks sending at once
        self.rate: float | None = None  # one chunk's bytes/s, once measured
        self._log, self._clock = log, clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._sending = 0
        self._sent = 0
        self._started: float | None = None  # the first byte's time
        self._window: tuple[float, int] | None = None  # (start time, bytes sent by then)
        self._deciding = maximum > 1

    def _full(self) -> bool:
        return self._in_flight >= self.maximum or self._sending >= self.limit

    @contextmanager
    def slot(self, halted: Callable[[], bool]) -> Iterator[Flight | None]:
        """
        Wait for room; yields the chunk's :class:`Flight`, or None (taking no room) when
        ``halted()`` turned true meanwhile.
        """
        with self._cond:
            while self._full() and not halted():
                # While deciding, look at the clock often: a chunk whose bytes sit in socket buffers
                # calls no sent(). Once decided, a released slot wakes the waiters (notify_all).
                self._cond.wait(POLL if self._deciding else 0.2)
                self._measure(self._clock())
            if halted():
                yield None
                return
            self._in_flight += 1
            self._sending += 1
            flight = Flight(self)
        try:
            yield flight
        finally:
            self._stop_sending(flight)
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _start_sending(self, flight: Flight) -> None:
        with self._cond:
            if not flight.sending:
                flight.sending = True
                self._sending += 1

    def _stop_sending(self, flight: Flight) -> None:
        with self._cond:
            if flight.sending:
                flight.sending = False
                self._sending -= 1
                self._cond.notify_all()

    def sent(self, n: int) -> None:
        """``n`` more bytes went to the socket."""
        if not self._deciding:  # decided: nothing more to count (a bool read needs no lock)
            return
        with self._cond:
            self._sent += n
            now = self._clock()
            if self._deciding and self._started is None:
                self._started = now
            self._measure(now)

    def _measure(self, now: float) -> None:
        """Open the measuring window after WARMUP, close it after PROBE_SECONDS (called locked)."""
        if not self._deciding or self._started is None:
            return
        if self._window is None:
            if now - self._started >= WARMUP:
                self._window = (now, self._sent)
        elif now - self._window[0] >= PROBE_SECONDS:
            self._decide((self._sent - self._window[1]) / (now - self._window[0]))

    def _decide(self, rate: float) -> None:
        self.rate, self._deciding = rate, False
        if rate < FAST:
            self.limit = self.maximum
            self._cond.notify_all()
            template = "Sending up to %d chunks at once: one moved %.1f MB/s"
        else:
            template = (
                "Sending one chunk at a time (up to %d in flight while the host answers): one already moves %.1f MB/s"
            )
        if self._log is not None:
            self._log.info(template, self.maximum, rate / 1e6)
