"""
The upload engine's parts without a server: a source's identity, the completing chunk's last
check, the try that owns its state, and what a resume state shows when printed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaSourceChangedError
from airflow_provider_cincopa.hooks._chunk_body import ChunkBody
from airflow_provider_cincopa.hooks._parallel import ChunkGate
from airflow_provider_cincopa.hooks.sources import LocalSource, open_source
from airflow_provider_cincopa.hooks.upload import (
    ResumeState,
    UploadTry,
    hold_back_completing,
    mask_upload_url,
)
from tests.support import airflow_version

pytestmark = pytest.mark.unit

MiB = 1024 * 1024
LONG_AGO_NS = 1_600_000_000 * 10**9


@pytest.fixture
def video(tmp_path: Path) -> Path:
    path = tmp_path / "v.mp4"
    path.write_bytes(os.urandom(3 * MiB))
    os.utime(path, ns=(LONG_AGO_NS, LONG_AGO_NS))
    return path


def body(source: LocalSource, *, check_last: bool) -> ChunkBody:
    return ChunkBody(
        source,
        0,
        source.size,
        source.name,
        on_read=lambda n: None,
        on_end=lambda: None,
        before_last=source.check_unchanged if check_last else None,
    )


def test_the_completing_chunk_checks_the_source_after_reading_its_last_block(video):
    """A write while the completing chunk's body is read aborts it before its last block goes."""
    source = LocalSource(video)
    blocks = iter(body(source, check_last=True))
    next(blocks)
    with open(video, "r+b") as f:  # same size, same inode, other bytes
        f.write(b"x" * 100)
    with pytest.raises(CincopaSourceChangedError, match="written to during upload"):
        list(blocks)
    source.close()


def test_other_chunks_do_not_check_and_an_unchanged_file_passes(video):
    source = LocalSource(video)
    assert b"".join(bytes(b) for b in body(source, check_last=True)) == video.read_bytes()
    blocks = iter(body(source, check_last=False))
    next(blocks)
    with open(video, "ab") as f:
        f.write(b"more")
    assert len(list(blocks)) == 2, "only the completing chunk pays for the check"
    source.close()


def test_identity_is_the_open_inode_so_a_rename_over_the_path_keeps_the_old_version(video, tmp_path):
    source = LocalSource(video)
    old = video.read_bytes()
    other = tmp_path / "other.mp4"
    other.write_bytes(os.urandom(len(old)))
    os.replace(other, video)
    source.check_unchanged()  # the open descriptor still reads the old inode, whole
    assert source.read_at(0, len(old)) == old
    assert LocalSource(video).version != source.version, "a retry opening the path sees another version"
    source.close()


def test_identity_names_device_inode_size_and_mtime(video):
    source = LocalSource(video)
    info = os.stat(video)
    assert source.version == f"{info.st_dev}:{info.st_ino}:{info.st_size}:{info.st_mtime_ns}"
    source.close()


@pytest.mark.parametrize("source", ["https://alice:PW-9x@host/v.mp4", "s3://KEY:PW-9x@bucket/v.mp4", "gs://bob@b/v"])
def test_credentials_in_a_source_url_are_refused(source):
    with pytest.raises(CincopaInputError, match="carries credentials") as err:
        open_source(source)
    assert "PW-9x" not in str(err.value) and "alice" not in str(err.value) and "bob" not in str(err.value)


def test_resume_state_repr_masks_the_upload_url():
    state = ResumeState(
        upload_url="https://upload.example:8443/upload/1/?hash=SECRETHASH12345&d=DSECRET999",
        unique_id="u-1",
        filename="a\nb.mp4",
        size=10,
    )
    for shown in (repr(state), str(state)):
        assert "SECRETHASH12345" not in shown and "DSECRET999" not in shown
        assert "https://upload.example:8443/upload/1/?***" in shown and "'a\\\\nb.mp4'" in shown
    assert mask_upload_url("https://h/upload/") == "https://h/upload/"


def test_a_try_owns_its_status_error_and_ranges_in_flight():
    state = ResumeState(upload_url="https://h/u?hash=x", unique_id="u", filename="f", size=30)
    seen: list[int] = []
    attempt = UploadTry(state, threading.Event(), ChunkGate(2), on_state=lambda s: seen.append(s.bytes_done))
    with attempt.flying(0, 10):
        assert attempt.in_flight == {(0, 10)}
        assert attempt.acknowledge(0, 10, "chunk done") == (10, 30)
    assert attempt.in_flight == set() and seen == [10]
    attempt.acknowledge(10, 30, "new resource id 7 RID7")
    attempt.finish()
    assert (attempt.status, state.rid, state.id, state.done) == ("sent", "RID7", 7, [[0, 30]])
    failing = UploadTry(state, threading.Event(), ChunkGate(2), on_state=None)
    first, second = ValueError("first"), ValueError("second")
    failing.fail(first)
    failing.fail(second)
    failing.finish()
    assert (failing.status, failing.error, failing.halted()) == ("failed", first, True)
    cancel = threading.Event()
    cancelled = UploadTry(state, cancel, ChunkGate(2), on_state=None)
    cancel.set()
    cancelled.finish()
    assert cancelled.status == "cancelled" and cancelled.halted()


@pytest.mark.parametrize(
    ("ranges", "others", "completing"),
    [
        # one range: nothing to overlap with, not cut
        ([(0, 8 * MiB)], [], (0, 8 * MiB)),
        # the shortest range's last MiB goes last; its head with the others
        ([(0, 4 * MiB), (4 * MiB, 6 * MiB + 5)], [(0, 4 * MiB), (4 * MiB, 6 * MiB)], (6 * MiB, 6 * MiB + 5)),
        ([(0, 3 * MiB), (3 * MiB, 6 * MiB)], [(0, 3 * MiB), (3 * MiB, 5 * MiB)], (5 * MiB, 6 * MiB)),
        # ranges of a MiB or less are sent whole; a resume's shortest range may be anywhere
        ([(0, MiB), (MiB, 2 * MiB)], [(0, MiB)], (MiB, 2 * MiB)),
        (
            [(0, 2 * MiB), (5 * MiB, 5 * MiB + 10), (9 * MiB, 12 * MiB)],
            [(0, 2 * MiB), (9 * MiB, 12 * MiB)],
            (5 * MiB, 5 * MiB + 10),
        ),
    ],
)
def test_the_completing_chunk_is_the_shortest_ranges_last_mib(ranges, others, completing):
    assert hold_back_completing(ranges) == (others, completing)


def test_sealed_upload_state_repr_shows_no_state():
    from airflow_provider_cincopa.upload_state import SealedUploadState

    class Log:
        def info(self, *args: object) -> None: ...

        def warning(self, *args: object) -> None: ...

    class Store(dict):
        def set(self, key: str, value: object) -> None:
            self[key] = value

    store = Store()
    sealed = SealedUploadState(store, {"source": "/data/v.mp4"}, Log())
    sealed.save(ResumeState(upload_url="https://h/u?hash=SECRETHASH12345", unique_id="u", filename="v.mp4", size=1))
    if airflow_version() >= (3, 3):  # below 3.3 nothing is sealed (no task SDK crypto): nothing saved
        assert store, "the test's Fernet key is set: the state was saved"
    for shown in (repr(sealed), str(sealed)):
        assert shown == f"SealedUploadState(key='cincopa_upload', enabled={sealed.enabled})"
        assert "SECRETHASH" not in shown
