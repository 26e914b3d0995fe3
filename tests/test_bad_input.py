"""
One test per row of the bad-input table in docs/bad-input.md: the exception type, a message that
says what was wrong, nothing sent where it can be caught before, and no secret in the text.
"""

from __future__ import annotations

import socket
import time

import pytest

from airflow_provider_cincopa.exceptions import (
    CincopaApiError,
    CincopaAuthError,
    CincopaInputError,
    CincopaUploadError,
)
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from tests.conftest import TOKEN, set_connection
from tests.support import make_file

MiB = 1024 * 1024


def nothing_sent(emulator) -> bool:
    return emulator.requests("/upload/") == [] and emulator.requests("/v2/asset.get_upload_url") == []


def check(err, *words: str) -> None:
    text = str(err.value)
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    assert TOKEN not in text


def test_missing_file(hook, emulator):
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file("/data/no-such-video.mp4")
    check(err, "does not exist", "/data/no-such-video.mp4")
    assert nothing_sent(emulator)


def test_unreadable_file(hook, emulator, tmp_path):
    path = tmp_path / "socket.mp4"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        with pytest.raises(CincopaInputError) as err:
            hook.upload_file(str(path))
    check(err, "cannot be read", str(path))
    assert nothing_sent(emulator)


def test_empty_file(hook, emulator, tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file(str(path))
    check(err, "empty (0 bytes)", str(path))
    assert nothing_sent(emulator)


def test_directory(hook, emulator, tmp_path):
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file(str(tmp_path))
    check(err, "is a directory", str(tmp_path))
    assert nothing_sent(emulator)


def test_file_changing_size_during_upload(hook, emulator, tmp_path):
    path = tmp_path / "growing.mp4"
    make_file(path, 2 * MiB)
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file(
            str(path),
            chunk_size=MiB,
            max_parallel_chunks=1,
            progress_callback=lambda done, total: path.open("ab").write(b"x"),
        )
    check(err, "changed size during upload", "no longer being written")


def test_file_shrinking_during_upload(hook, emulator, tmp_path):
    path = tmp_path / "shrinking.mp4"
    make_file(path, 3 * MiB)
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file(
            str(path),
            chunk_size=MiB,
            max_parallel_chunks=1,
            progress_callback=lambda done, total: path.open("r+b").truncate(MiB),
        )
    check(err, "shrank during upload")
    assert emulator.assets() == []


# s3:// without the s3 extra, a missing bucket, refused credentials: tests/test_object_storage.py
@pytest.mark.parametrize("source", ["nosuchproto://bucket/video.mp4"])
def test_unsupported_source_url(hook, emulator, source):
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file(source)
    check(err, source)
    assert str(err.value).startswith(
        f"Unsupported or malformed source {source!r}: Unsupported filesystem: 'nosuchproto'"
    )
    assert nothing_sent(emulator)


@pytest.mark.parametrize("url", ["ftp://host/video.mp4", "not a url", "file:///tmp/x.mp4", "http://"])
def test_malformed_import_url(hook, emulator, url):
    with pytest.raises(CincopaInputError) as err:
        hook.upload_from_url(url)
    check(err, "http(s) URL")
    assert emulator.requests("/v2/asset.upload_from_url") == []


def test_wrong_token(emulator, monkeypatch):
    set_connection(monkeypatch, "cincopa_wrong", password="not-the-token", host=emulator.base_url)
    with pytest.raises(CincopaAuthError) as err:
        CincopaHook("cincopa_wrong").list_webhooks()
    check(err, "403", "webhook.list", "API token")
    assert "not-the-token" not in str(err.value)


@pytest.mark.slow
def test_expired_token(hook, emulator, monkeypatch):
    temp = hook.get_temp_token(ttl=1)
    set_connection(monkeypatch, "cincopa_expired", password=temp, host=emulator.base_url)
    time.sleep(1.2)
    with pytest.raises(CincopaAuthError) as err:
        CincopaHook("cincopa_expired").ping()
    check(err, "403", "ping")
    assert temp not in str(err.value)


def test_token_without_permission(emulator, monkeypatch):
    set_connection(monkeypatch, "cincopa_ro", password="READONLYTOKEN123", host=emulator.base_url)
    with pytest.raises(CincopaAuthError) as err:
        CincopaHook("cincopa_ro").set_meta("AAAAAAAAAAAA", caption="x")
    check(err, "permission denied", "asset.set_meta", "permission this method needs")


def test_unknown_rid(hook):
    with pytest.raises(CincopaApiError) as err:
        hook.delete_asset("NOSUCHRID123")
    check(err, "asset.delete", "NOSUCHRID123")


def test_unknown_gallery(hook, emulator, tmp_path):
    path = tmp_path / "v.mp4"
    make_file(path, 10)
    with pytest.raises(CincopaApiError) as err:
        hook.upload_file(str(path), gallery_fid="NOSUCHGALLRY")
    check(err, "asset.get_upload_url", "gallery not found", "NOSUCHGALLRY")
    assert emulator.requests("/upload/") == []


def test_unknown_status_id(hook):
    with pytest.raises(CincopaApiError) as err:
        hook.get_upload_from_url_status("st-nosuch")
    check(err, "asset.upload_from_url_get_status", "st-nosuch")


@pytest.mark.slow
def test_upload_answer_without_resource_id_twice(emulator, monkeypatch, tmp_path):
    # Every byte taken, no rid named, no asset made - twice: a clear error, not a loop. (One such
    # answer is recovered from: tests/test_recovery.py.)
    set_connection(monkeypatch, "cincopa_default", password=TOKEN, host=emulator.base_url, extra={"retry_deadline": 2})
    done_without_rid = {
        "path_prefix": "/upload",
        "nth": 1,
        "status": 200,
        "times": 2,
        "body": "authentication ok\nfile received ok\ndone.\n",
        "content_type": "text/plain",
    }
    emulator.faults(malformed=[done_without_rid])
    path = tmp_path / "v.mp4"
    make_file(path, 100)
    with pytest.raises(CincopaUploadError) as err:
        CincopaHook().upload_file(str(path))
    check(err, "v.mp4 twice but never answered with a new resource id", "no asset with this file name and size")
    assert len(emulator.requests("/v2/asset.get_upload_url")) == 2 and emulator.assets() == []


def test_malformed_content_range_answer(hook, emulator, tmp_path):
    emulator.faults(
        malformed=[
            {
                "path_prefix": "/upload",
                "nth": 1,
                "status": 400,
                "times": 1,
                "body": "error: malformed Content-Range",
                "content_type": "text/plain",
            }
        ]
    )
    path = tmp_path / "v.mp4"
    make_file(path, 100)
    with pytest.raises(CincopaUploadError) as err:
        hook.upload_file(str(path))
    check(err, "refused the upload of v.mp4", "malformed Content-Range")
    assert len(emulator.requests("/upload/")) == 1, "an error answer is final"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"chunk_size": 0}, ("chunk_size", "positive")),
        ({"chunk_size": -5}, ("chunk_size",)),
        ({"max_parallel_chunks": 0}, ("max_parallel_chunks", "at least 1")),
        ({"filename": "  "}, ("filename",)),
        ({"attach_to_rid": "AAAAAAAAAAAA"}, ("attach_type",)),
    ],
)
def test_nonsensical_upload_parameters(hook, emulator, tmp_path, kwargs, words):
    path = tmp_path / "v.mp4"
    make_file(path, 10)
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file(str(path), **kwargs)
    check(err, *words)
    assert emulator.requests("/upload/") == []


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [({"timeout": -1}, ("timeout", "> 0")), ({"poll_interval": 0}, ("poll_interval", "> 0"))],
)
def test_nonsensical_operator_parameters(kwargs, words):
    from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator

    with pytest.raises(CincopaInputError) as err:
        CincopaUploadFromUrlOperator(task_id="x", source_url="https://example.com/v.mp4", **kwargs)
    check(err, *words)


def test_negative_connection_timeout(emulator, monkeypatch):
    set_connection(monkeypatch, "cincopa_neg", password=TOKEN, host=emulator.base_url, extra={"timeout": -3})
    with pytest.raises(CincopaInputError) as err:
        CincopaHook("cincopa_neg").ping()
    check(err, "timeout", "> 0")
    assert emulator.requests("/v2/ping") == []


def test_non_http_base_url(monkeypatch):
    set_connection(monkeypatch, "cincopa_ftp", password=TOKEN, host="ftp://api.cincopa.com/v2/")
    with pytest.raises(CincopaInputError) as err:
        CincopaHook("cincopa_ftp").ping()
    check(err, "API base URL", "http(s)")
