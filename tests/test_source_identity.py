"""
The bytes uploaded are the bytes of one version of the file, and nothing but a regular file is
opened: uploads through the hook to the emulator over real HTTP, the file changed (or not) at a
chunk's acknowledgement, which the upload reaches deterministically (``progress_callback`` runs
after a chunk is answered, before the completing chunk is sent).
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import threading
from pathlib import Path

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaSourceChangedError
from airflow_provider_cincopa.hooks.upload import ResumeState
from tests.support import make_file

pytestmark = pytest.mark.emulator

MiB = 1024 * 1024
#: Long ago: any write during the test gives the file another mtime, however coarse the clock.
LONG_AGO_NS = 1_600_000_000 * 10**9


def old_file(path: Path, size: int, seed: int = 1) -> str:
    """A file of ``size`` bytes last written long ago; its sha256."""
    digest = make_file(path, size, seed=seed)
    os.utime(path, ns=(LONG_AGO_NS, LONG_AGO_NS))
    return digest


def make_replacement(path: Path, size: int, seed: int) -> str:
    """Another file of ``size`` bytes next to ``path``; its path."""
    other = path.with_name(path.name + f".new{seed}")
    make_file(other, size, seed=seed)
    return str(other)


def rewrite_in_place(path: Path, seed: int) -> None:
    """Other bytes, same size, same inode (as a program writing over the file in place would)."""
    other = Path(make_replacement(path, path.stat().st_size, seed))
    with open(path, "r+b") as f:
        f.write(other.read_bytes())
    other.unlink()


def completing_requests(emulator, size: int) -> list[dict]:
    """The upload requests whose range ends at the file's end: the chunk that completes it."""
    return [r for r in emulator.requests("/upload/") if r["headers"]["content-range"].endswith(f"-{size}/{size}")]


def once(action):
    """A progress callback that runs ``action`` at the first acknowledged chunk only."""
    done = []

    def callback(bytes_done: int, total: int) -> None:
        if not done:
            done.append(bytes_done)
            action()

    return callback


def test_same_size_rewrite_midway_fails_naming_the_file_and_makes_no_asset(hook, emulator, tmp_path):
    path = tmp_path / "edited in place.mp4"
    size = 4 * MiB
    old_file(path, size)
    with pytest.raises(CincopaSourceChangedError) as err:
        hook.upload_file(
            str(path), chunk_size=MiB, max_parallel_chunks=4, progress_callback=once(lambda: rewrite_in_place(path, 2))
        )
    message = str(err.value)
    assert str(path) in message and "changed while it was read" in message
    assert emulator.assets() == [], "no asset of mixed bytes"
    assert completing_requests(emulator, size) == [], "the completing chunk was never sent"


def test_growing_file_fails_and_leaves_no_asset_of_the_original_size(hook, emulator, tmp_path):
    path = tmp_path / "growing.mp4"
    size = 3 * MiB
    old_file(path, size)

    def grow() -> None:
        with open(path, "ab") as f:
            f.write(b"more bytes")

    with pytest.raises(CincopaSourceChangedError, match="changed size during upload"):
        hook.upload_file(str(path), chunk_size=MiB, max_parallel_chunks=1, progress_callback=once(grow))
    assert emulator.assets() == []
    assert completing_requests(emulator, size) == []


def test_file_replaced_by_rename_midway_uploads_the_old_version_intact(hook, emulator, tmp_path):
    path = tmp_path / "renamed over.mp4"
    size = 4 * MiB
    digest = old_file(path, size, seed=1)
    replacement = make_replacement(path, size, seed=2)
    result = hook.upload_file(
        str(path), chunk_size=MiB, max_parallel_chunks=2, progress_callback=once(lambda: os.replace(replacement, path))
    )
    [asset] = emulator.assets()
    assert (asset["rid"], asset["sha256"], asset["size"]) == (result.rid, digest, size)


def test_after_a_change_the_retry_uploads_the_new_version_from_its_first_byte(hook, emulator, tmp_path):
    path = tmp_path / "retried.mp4"
    size = 3 * MiB
    old_file(path, size)
    states: list[dict] = []
    with pytest.raises(CincopaSourceChangedError):
        hook.upload_file(
            str(path),
            chunk_size=MiB,
            max_parallel_chunks=1,
            on_state=lambda s: states.append(s.to_json()),
            progress_callback=once(lambda: rewrite_in_place(path, 3)),
        )
    saved = ResumeState.from_json(states[-1])
    assert saved is not None and 0 < saved.bytes_done < size
    new_digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sent_before = len(emulator.requests("/upload/"))
    result = hook.upload_file(str(path), chunk_size=MiB, resume=saved)
    [asset] = emulator.assets()
    assert (asset["rid"], asset["sha256"]) == (result.rid, new_digest)
    resent = emulator.requests("/upload/")[sent_before:]
    assert sum(r["body_length"] for r in resent) == size, "the saved state of the old version is not resumed"


# -- nothing but a regular file is opened ----------------------------------------------------------


def refused_at_once(hook, emulator, source: str) -> str:
    """Upload ``source`` in a thread; its refusal's message (a hang fails the test, never the run)."""
    outcome: list[BaseException | None] = []

    def upload() -> None:
        try:
            hook.upload_file(source)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=upload, daemon=True)
    worker.start()
    worker.join(60)  # a bound for a hang, not a speed check: the refusal needs no I/O at all
    hung = worker.is_alive()
    if hung and source.startswith("/") and Path(source).is_fifo():
        os.close(os.open(source, os.O_WRONLY | os.O_NONBLOCK))  # let the old open() return
        worker.join(60)
    assert not hung, f"upload_file({source!r}) hung"
    [error] = outcome
    assert isinstance(error, CincopaInputError), error
    assert emulator.requests("/v2/asset.get_upload_url") == [] and emulator.requests("/upload/") == []
    return str(error)


def test_a_fifo_is_refused_at_once_not_waited_on(hook, emulator, tmp_path):
    fifo = tmp_path / "pipe.mp4"
    os.mkfifo(fifo)
    message = refused_at_once(hook, emulator, str(fifo))
    assert f"{fifo} is a FIFO (named pipe), not a regular file" in message


def test_a_character_device_is_refused_not_called_empty(hook, emulator):
    message = refused_at_once(hook, emulator, "/dev/zero")
    assert "/dev/zero is a character device, not a regular file" in message


def test_a_socket_is_refused_as_a_socket(hook, emulator, tmp_path):
    path = tmp_path / "socket.mp4"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    try:
        message = refused_at_once(hook, emulator, str(path))
    finally:
        sock.close()
    assert f"{path} is a socket, not a regular file" in message


def test_a_symlink_loop_is_named_as_such(hook, emulator, tmp_path):
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    first.symlink_to(second)
    second.symlink_to(first)
    with pytest.raises(OSError) as loop:
        first.stat()
    assert loop.value.errno == errno.ELOOP
    message = refused_at_once(hook, emulator, str(first))
    assert "symbolic link loop" in message and "does not exist" not in message


# -- credentials in a source URL -------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    ["https://alice:PW-s3cr3t-42@media.example/v.mp4", "s3://AKIAKEY:PW-s3cr3t-42@bucket/v.mp4"],
)
def test_credentials_in_a_source_url_are_refused_never_used_nor_shown(hook, emulator, source):
    with pytest.raises(CincopaInputError, match="pass its id as source_conn_id") as err:
        hook.upload_file(source)
    message = str(err.value)
    assert "PW-s3cr3t-42" not in message and "alice" not in message and "AKIAKEY" not in message
    assert emulator.requests("/v2/asset.get_upload_url") == [] and emulator.requests("/upload/") == []


# -- names in log lines, secrets in reprs ------------------------------------------------------------


def test_a_file_name_cannot_forge_log_lines(hook, emulator, tmp_path, capfd):
    path = tmp_path / "clip\r\nERROR forged line \x1b[2J.mp4"
    make_file(path, 3 * MiB)
    states: list[ResumeState] = []
    hook.upload_file(str(path), chunk_size=MiB, on_state=states.append)
    out = capfd.readouterr()
    logged = out.out + out.err
    assert "Uploaded clip\\r\\nERROR forged line \\x1b[2J.mp4" in logged
    assert "\nERROR forged" not in logged and "\x1b[2J" not in logged
    shown = repr(states[-1]) + str(states[-1])
    assert "\r" not in shown and "\x1b" not in shown


def test_resume_state_repr_and_str_mask_the_upload_hash(hook, emulator, tmp_path):
    path = tmp_path / "printed.mp4"
    make_file(path, MiB)
    states: list[ResumeState] = []
    hook.upload_file(str(path), on_state=states.append)
    [upload] = emulator.requests("/upload/")
    upload_hash = upload["query"]["hash"]
    assert len(upload_hash) >= 5 and upload_hash in states[-1].upload_url
    for shown in (repr(states[-1]), str(states[-1]), f"{states[-1]}"):
        assert upload_hash not in shown and "printed.mp4" in shown and states[-1].rid in shown
