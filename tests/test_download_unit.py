"""The download's pure rules: redirects allowed, file names made safe, version lists, HLS, byte ranges."""

from __future__ import annotations

import pytest

from airflow_provider_cincopa.emulator.cdn import byte_range
from airflow_provider_cincopa.exceptions import (
    CincopaHlsVersionError,
    CincopaInputError,
    CincopaRedirectError,
    CincopaVersionNotFoundError,
)
from airflow_provider_cincopa.hooks._download import check_redirect, pick_version, safe_filename, version_keys

pytestmark = pytest.mark.unit

ASSET = {
    "rid": "R1",
    "filename": "a.mp4",
    "versions": {
        "original": {"name": "original", "filesize": 10, "mime": "video/mp4", "url": "https://cdn.x/R1/a.mp4"},
        "ts_720p": {"name": "720p", "filesize": "7", "mime": "application/x-mpegURL", "url": "https://cdn.x/R1/a.m3u8"},
        "hls_odd": {"name": "odd", "filesize": "7", "mime": "", "url": "https://cdn.x/R1/b.M3U8"},
        "mp4_hd": {"name": "hd", "filesize": "11", "mime": "video/mp4", "url": "https://cdn.x/R1/6/a.mp4"},
    },
}


@pytest.mark.parametrize(
    ("before", "after"),
    [("https://cdn.x/a", "http://edge.x/a"), ("http://cdn.x/a", "ftp://edge.x/a"), ("https://cdn.x/a", "file:///etc")],
)
def test_redirects_down_to_http_or_to_another_scheme_are_refused(before, after):
    with pytest.raises(CincopaRedirectError, match="never follows a redirect from https to http"):
        check_redirect(before, after)


@pytest.mark.parametrize(
    ("before", "after"),
    [("https://cdn.x/a", "https://edge.y/a"), ("http://cdn.x/a", "https://edge.y/a"), ("http://a/x", "http://b/x")],
)
def test_redirects_to_another_host_or_up_to_https_are_followed(before, after):
    check_redirect(before, after)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("clip.mp4", "clip.mp4"),
        ("../../etc/passwd", "passwd"),
        ("a\\b\\c.mp4", "c.mp4"),
        ("..", "R1"),
        ("", "R1"),
        ("dir/", "R1"),
        ("bad\nname\x1b.mp4", "badname.mp4"),
    ],
)
def test_file_names_are_made_safe(name, safe):
    assert safe_filename(name, "R1") == safe


def test_version_keys_take_a_key_a_comma_string_or_a_list():
    assert version_keys("original") == ["original"]
    assert version_keys(" mp4_hd , original ") == ["mp4_hd", "original"]
    assert version_keys(["mp4_hd", "original"]) == ["mp4_hd", "original"]
    with pytest.raises(CincopaInputError, match="version is empty"):
        version_keys(" , ")


def test_the_first_version_the_asset_has_wins_and_hls_is_refused_not_skipped():
    assert pick_version(ASSET, ["mp4_4k", "mp4_hd", "original"]).key == "mp4_hd"
    assert pick_version(ASSET, "original").filesize == 10
    with pytest.raises(CincopaHlsVersionError, match="ts_720p of asset R1 is an HLS playlist"):
        pick_version(ASSET, ["ts_720p", "original"])
    with pytest.raises(CincopaHlsVersionError, match="hls_odd"):
        pick_version(ASSET, "hls_odd")  # told by its .m3u8 URL when the MIME type says nothing
    with pytest.raises(CincopaVersionNotFoundError, match=r"none of the versions \['webm'\]; it has \['hls_odd'"):
        pick_version(ASSET, "webm")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-", (0, 100)),
        ("bytes=10-19", (10, 20)),
        ("bytes=90-500", (90, 100)),
        ("bytes=-30", (70, 100)),
        ("bytes=100-", "bad"),
        ("bytes=0-1,5-6", None),
        ("items=0-1", None),
    ],
)
def test_the_emulator_cdn_reads_range_headers_as_servers_do(header, expected):
    assert byte_range(header, 100) == expected


def test_a_body_the_cdn_encoded_is_refused_not_written_encoded(tmp_path, monkeypatch):
    """A loopback server that gzips whatever it is asked: nothing is written, the error names the encoding."""
    import gzip
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from airflow_provider_cincopa.exceptions import CincopaHttpError
    from airflow_provider_cincopa.hooks._destinations import LocalDestination
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    body = gzip.compress(b"z" * 1000)

    class Gzipping(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Gzipping)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = {"conn_type": "cincopa", "password": "UNITTOKEN123", "host": "http://127.0.0.1:9/v2/"}
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_UNIT", json.dumps({**conn, "extra": {"retries": 0}}))
    hook = CincopaHook("cincopa_unit")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/cdn/R1/a.mp4"
        with pytest.raises(CincopaHttpError, match="Content-Encoding 'gzip'"):
            hook.download_url(url, LocalDestination(tmp_path / "a.mp4"), size=None)
        assert list(tmp_path.iterdir()) == []
    finally:
        hook.close_downloads()
        server.shutdown()


def test_a_download_deletes_the_temporary_files_dead_writers_left_and_no_other(tmp_path):
    import fcntl
    import os

    from airflow_provider_cincopa.hooks._destinations import ORPHAN_AGE, LocalDestination

    def part(name: str, *, age: float) -> str:
        path = tmp_path / name
        path.write_bytes(b"half")
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime - age))
        return name

    orphan = part(".cincopa-part-0123abcd-a.mp4", age=ORPHAN_AGE + 5)  # its writer was SIGKILLed
    fresh = part(".cincopa-part-11111111-a.mp4", age=0)  # created, not yet locked
    live = part(".cincopa-part-22222222-a.mp4", age=ORPHAN_AGE + 5)  # a writer holds it (stalled)
    other = part(".cincopa-part-33333333-b.mp4", age=ORPHAN_AGE + 5)  # another destination's
    look_alike = part(".cincopa-part-notours-a.mp4", age=ORPHAN_AGE + 5)
    with open(tmp_path / live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        writer = LocalDestination(tmp_path / "a.mp4").open(4)
        writer.write(b"data")
        writer.commit()
    assert (tmp_path / "a.mp4").read_bytes() == b"data"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.mp4", fresh, live, other, look_alike])
    assert orphan not in os.listdir(tmp_path)


def test_a_temporary_file_being_written_is_locked_until_it_is_renamed(tmp_path):
    import fcntl

    from airflow_provider_cincopa.hooks._destinations import LocalDestination

    writer = LocalDestination(tmp_path / "a.mp4").open(4)
    [temp] = tmp_path.iterdir()
    with open(temp, "rb") as f:
        with pytest.raises(BlockingIOError):
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        writer.discard()
    assert list(tmp_path.iterdir()) == []
