"""How many chunks an upload keeps in flight (hooks/_parallel.py), decided on a clock the test moves."""

from __future__ import annotations

import logging
import threading

import pytest

from airflow_provider_cincopa.hooks._parallel import ChunkGate, MiB, auto_chunk_size


@pytest.mark.parametrize(
    ("size", "parallel", "chunk"),
    [
        (1, 4, 16 * MiB),  # tiny files: the floor (one request anyway)
        (100 * MiB, 4, 16 * MiB),  # 7 chunks: parallel chunks still have work
        (256 * MiB, 4, 32 * MiB),  # two chunks per chunk in flight
        (1024 * MiB, 4, 47 * MiB),  # the ceiling: within the 50 MB of Cincopa's browser uploader
        (4096 * MiB, 4, 47 * MiB),
        (256 * MiB, 1, 47 * MiB),
        (300 * MiB + 1, 8, 19 * MiB),  # rounded up to whole MiB (object-storage reads align on them)
    ],
)
def test_auto_chunk_size(size, parallel, chunk):
    assert auto_chunk_size(size, parallel) == chunk


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def feed(gate: ChunkGate, clock: Clock, mib: int, mib_per_s: float) -> None:
    for _ in range(mib):
        clock.now += 1 / mib_per_s
        gate.sent(MiB)


def test_a_slow_single_chunk_opens_to_all_at_once(caplog):
    clock = Clock()
    gate = ChunkGate(4, logging.getLogger("gate-test"), clock)
    with gate.slot(lambda: False) as flight, caplog.at_level(logging.INFO, logger="gate-test"):
        assert flight is not None and gate.limit == 1
        feed(gate, clock, 20, 25.0)  # one connection capped at 25 MiB/s: parallel chunks will pay
    assert gate.limit == 4
    assert gate.rate == pytest.approx(25 * MiB, rel=0.15)
    assert "Sending up to 4 chunks at once: one moved 2" in caplog.text


def test_a_fast_single_chunk_stays_alone(caplog):
    clock = Clock()
    gate = ChunkGate(4, logging.getLogger("gate-test"), clock)
    with gate.slot(lambda: False), caplog.at_level(logging.INFO, logger="gate-test"):
        feed(gate, clock, 400, 1800.0)  # one connection fills the path (the benchmark loopback)
        assert gate.limit == 1 and gate.rate == pytest.approx(1800 * MiB, rel=0.05)
        feed(gate, clock, 400, 20.0)  # decided once per try: no switching afterwards
    assert gate.limit == 1
    assert (
        "Sending one chunk at a time (up to 4 in flight while the host answers): one already moves 1887" in caplog.text
    )


def test_the_first_moments_do_not_count():
    clock = Clock()
    gate = ChunkGate(4, None, clock)
    with gate.slot(lambda: False):
        for _ in range(6):  # a burst into empty socket buffers...
            gate.sent(MiB)
        feed(gate, clock, 20, 25.0)  # ...then what the path really takes
    assert gate.limit == 4 and gate.rate == pytest.approx(25 * MiB, rel=0.15)


def test_a_second_chunk_waits_for_room_and_a_halted_upload_takes_none():
    gate = ChunkGate(4, None, Clock())
    halted = threading.Event()
    entered = threading.Event()
    outcome: list[bool] = []

    def second() -> None:
        entered.set()
        with gate.slot(halted.is_set) as flight:
            outcome.append(flight is not None)

    with gate.slot(halted.is_set) as first:
        assert first is not None
        thread = threading.Thread(target=second)
        thread.start()
        entered.wait(5)
        thread.join(0.5)
        assert thread.is_alive() and not outcome, "one chunk in flight until its rate is known"
        halted.set()
        thread.join(5)
    assert outcome == [False]


def test_one_chunk_allowed_means_no_decision():
    clock = Clock()
    gate = ChunkGate(1, None, clock)
    with gate.slot(lambda: False):
        feed(gate, clock, 100, 100.0)
    assert gate.limit == 1 and gate.rate is None


def test_a_chunk_stuck_in_socket_buffers_is_measured_by_the_clock():
    """A chunk's sendall() blocks (the host stopped reading): no sent() comes, the waiting chunks decide."""
    clock = Clock()
    gate = ChunkGate(4, None, clock)
    admitted = threading.Event()

    def waiting_chunk() -> None:
        with gate.slot(lambda: False):
            admitted.set()

    with gate.slot(lambda: False):
        for _ in range(4):
            gate.sent(MiB)  # 4 MiB into the socket buffers at once, then nothing moves
        thread = threading.Thread(target=waiting_chunk)
        thread.start()
        clock.now = 0.06  # past WARMUP: the waiting chunk opens the window on its next look
        for _ in range(250):
            if gate._window is not None:
                break
            threading.Event().wait(0.02)
        clock.now = 0.2  # a probe's length later, and no byte moved: a slow path
        assert admitted.wait(5), "the waiting chunk was let in once one chunk proved slow"
        thread.join(5)
    assert gate.limit == 4 and gate.rate == 0


def enter(gate: ChunkGate, entered: threading.Event, leave: threading.Event) -> threading.Thread:
    """A chunk thread that takes a slot, says so, and holds it until ``leave`` is set."""

    def chunk() -> None:
        with gate.slot(lambda: False):
            entered.set()
            leave.wait(5)

    thread = threading.Thread(target=chunk)
    thread.start()
    return thread


@pytest.mark.slow
def test_one_at_a_time_the_next_chunk_starts_once_the_body_is_sent():
    """Chunks that only wait for their answer leave room: the wire has no gap between chunks."""
    clock = Clock()
    gate = ChunkGate(2, None, clock)
    second, third, leave = threading.Event(), threading.Event(), threading.Event()
    with gate.slot(lambda: False) as first:
        assert first is not None
        feed(gate, clock, 400, 1800.0)  # fast: one chunk sending at a time
        assert gate.limit == 1
        threads = [enter(gate, second, leave)]
        assert not second.wait(0.3), "the first chunk is still sending"
        first.body_sent()
        assert second.wait(5), "the first chunk only waits for its answer: the next one starts"
        threads.append(enter(gate, third, leave))
        assert not third.wait(0.3), "never more than max_parallel_chunks in flight, answered or not"
    assert third.wait(5)
    leave.set()
    for thread in threads:
        thread.join(5)


def test_one_chunk_allowed_is_one_in_flight_even_once_its_body_is_sent():
    gate = ChunkGate(1, None, Clock())
    second, leave = threading.Event(), threading.Event()
    with gate.slot(lambda: False) as first:
        assert first is not None
        first.body_sent()
        thread = enter(gate, second, leave)
        assert not second.wait(0.3)
    assert second.wait(5)
    leave.set()
    thread.join(5)


def test_a_retried_chunk_sends_again_and_holds_the_next_back():
    clock = Clock()
    gate = ChunkGate(3, None, clock)
    second, leave = threading.Event(), threading.Event()
    with gate.slot(lambda: False) as first:
        assert first is not None
        feed(gate, clock, 400, 1800.0)
        first.body_sent()
        first.sending_again()  # the answer never came: the same slot sends the body again
        first.sending_again()  # said twice: counted once
        thread = enter(gate, second, leave)
        assert not second.wait(0.3), "the retry is sending"
        first.body_sent()
        first.body_sent()  # said twice: counted once
        assert second.wait(5)
        assert gate._sending == 1 and gate._in_flight == 2
    leave.set()
    thread.join(5)
    assert gate._sending == 0 and gate._in_flight == 0
