"""
The hook's download primitive over real HTTP against the emulator's CDN: every version kind to a
local folder, a file path and ``s3://`` (moto); a version list; HLS refused; a dropped
connection, a 503 and a CDN that ignores ``Range`` each end byte-exact in one call with less
than 1.6x the file's bytes fetched; a size mismatch leaves nothing; ``if_exists``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from airflow_provider_cincopa.exceptions import (
    CincopaDestinationExistsError,
    CincopaDownloadSizeError,
    CincopaHlsVersionError,
    CincopaVersionNotFoundError,
)
from tests import test_object_storage
from tests.support import make_file
from tests.test_object_storage import BUCKET, CONN_ID, S3Server

pytestmark = pytest.mark.emulator

MiB = 1024 * 1024
# Fixtures: moto's S3 on loopback, and the s3_media connection to it, as the upload tests have them.
s3_server = test_object_storage.s3_server
s3 = test_object_storage.s3


@pytest.fixture
def video(hook, tmp_path) -> tuple[str, str, int]:
    """An uploaded 3 MiB video: (rid, sha256, size)."""
    source = tmp_path / "source" / "clip one.mp4"
    source.parent.mkdir()
    size = 3 * MiB + 123
    digest = make_file(source, size, seed=7)
    return hook.upload_file(str(source)).rid, digest, size


def cdn_requests(emulator) -> list[dict]:
    return emulator.requests("/cdn/")


def fetched(emulator) -> int:
    return sum(r["response_length"] for r in cdn_requests(emulator))


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def served_sha256(hook, rid: str, key: str) -> str:
    """What the CDN serves for a version, read by another client (httpx)."""
    url = hook.get_asset(rid)["versions"][key]["url"]
    return hashlib.sha256(httpx.get(url, timeout=30).raise_for_status().content).hexdigest()


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.parametrize("key", ["original", "mp4_hd", "jpg_600x450"])
def test_each_version_kind_downloads_byte_exact_to_a_folder(hook, emulator, video, tmp_path, key):
    rid, digest, _ = video
    expected = digest if key == "original" else served_sha256(hook, rid, key)

    result = hook.download_version(rid, f"{tmp_path}/out/", version=key)

    written = Path(result.uri)
    assert written.parent == tmp_path / "out" and written.name.endswith((".mp4", "mp4"))
    assert (result.version, result.sha256, sha256_of(written)) == (key, expected, expected)
    assert result.size == written.stat().st_size == int(hook.get_asset(rid)["versions"][key]["filesize"])
    assert listing(tmp_path / "out") == [written.name], "no temporary file left beside it"


def test_original_keeps_the_asset_filename_and_a_file_path_is_used_as_is(hook, video, tmp_path):
    rid, digest, _ = video
    into_folder = hook.download_version(rid, f"{tmp_path}/a/")
    as_file = hook.download_version(rid, tmp_path / "b" / "copy.bin")
    assert into_folder.uri == str(tmp_path / "a" / "clip one.mp4")
    assert as_file.uri == str(tmp_path / "b" / "copy.bin") and sha256_of(tmp_path / "b" / "copy.bin") == digest


def test_a_version_list_takes_the_first_the_asset_has(hook, video, tmp_path):
    rid, _, _ = video
    result = hook.download_version(rid, f"{tmp_path}/", version=["mp4_4k", "mp4_hd", "original"])
    assert result.version == "mp4_hd"
    with pytest.raises(CincopaVersionNotFoundError, match=r"mp4_4k.*it has"):
        hook.download_version(rid, f"{tmp_path}/", version="mp4_4k,webm")


def test_an_hls_version_is_refused_before_anything_is_written(hook, emulator, video, tmp_path):
    rid, _, _ = video
    with pytest.raises(CincopaHlsVersionError, match=r"ts_720p.*HLS"):
        hook.download_version(rid, f"{tmp_path}/out/", version=["ts_720p", "original"])
    assert not (tmp_path / "out").exists() and cdn_requests(emulator) == []


@pytest.mark.parametrize(
    "knobs",
    [
        {"cdn_drop": [{"after_bytes": 2 * MiB + 5}]},
        {"fail": [{"path_prefix": "/cdn/", "status": 503}]},
        {"cdn_ignore_range": True},
        {"cdn_ignore_range": True, "cdn_drop": [{"after_bytes": 1 * MiB + 77}]},
        {"cdn_redirect": [{}]},
    ],
    ids=["dropped-mid-body", "503", "range-ignored", "range-ignored-and-dropped", "redirected"],
)
def test_transient_failures_end_byte_exact_with_little_refetched(hook, emulator, video, tmp_path, knobs):
    rid, digest, size = video
    emulator.faults(**knobs)

    result = hook.download_version(rid, tmp_path / "out.mp4")

    assert (result.size, result.sha256, sha256_of(tmp_path / "out.mp4")) == (size, digest, digest)
    requests = cdn_requests(emulator)
    ignored = [r for r in requests if r["status"] == 200 and "range" in r["headers"]]
    assert len(requests) >= 2 or ignored, "the fault happened"
    assert fetched(emulator) < 1.6 * size
    assert listing(tmp_path) == ["out.mp4", "source", "source/clip one.mp4"]


def test_a_resumed_request_asks_for_the_bytes_missing(hook, emulator, video, tmp_path):
    rid, _, size = video
    emulator.faults(cdn_drop=[{"after_bytes": 2 * MiB + 5}])
    hook.download_version(rid, tmp_path / "out.mp4")
    first, second = cdn_requests(emulator)
    assert first["headers"]["range"] == "bytes=0-" and first["status"] == 206
    start = int(second["headers"]["range"].removeprefix("bytes=").rstrip("-"))
    assert 1 * MiB <= start <= 2 * MiB + 5 and second["response_length"] == size - start


def test_a_size_mismatch_fails_and_leaves_nothing(hook, emulator, video, tmp_path, media_server):
    rid, _, size = video
    asset = hook.get_asset(rid)
    path = asset["versions"]["original"]["url"].split("://", 1)[1].split("/", 1)[1]
    media_server.add(path, b"x" * (size - 10))  # the CDN edge we are sent to has a shorter file
    emulator.faults(cdn_redirect=[{"to": media_server.url}])
    with pytest.raises(CincopaDownloadSizeError, match=f"{size - 10} bytes.*{size}"):
        hook.download_version(rid, f"{tmp_path}/out/")
    assert listing(tmp_path / "out") == []


def test_if_exists_skip_makes_no_cdn_request_and_fail_refuses(hook, emulator, video, tmp_path):
    rid, digest, size = video
    hook.download_version(rid, tmp_path / "out.mp4")
    before = len(cdn_requests(emulator))

    skipped = hook.download_version(rid, tmp_path / "out.mp4", if_exists="skip")
    assert skipped.skipped and (skipped.size, skipped.sha256) == (size, digest)
    assert len(cdn_requests(emulator)) == before
    with pytest.raises(CincopaDestinationExistsError, match="if_exists='fail'"):
        hook.download_version(rid, tmp_path / "out.mp4", if_exists="fail")
    assert len(cdn_requests(emulator)) == before

    (tmp_path / "out.mp4").write_bytes(b"short")  # another size: downloaded again
    again = hook.download_version(rid, tmp_path / "out.mp4", if_exists="skip")
    assert not again.skipped and sha256_of(tmp_path / "out.mp4") == digest


# -- s3:// (moto on loopback) ---------------------------------------------------------------------


def s3_keys(s3: S3Server, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


@pytest.mark.parametrize("key", ["original", "mp4_hd"])
def test_download_to_s3_is_byte_exact_and_resumes(hook, emulator, s3, tmp_path, key):
    # 12 MiB: a multipart upload of several parts, one cut by the dropped connection.
    digest = make_file(tmp_path / "big.mp4", 12 * MiB + 3, seed=9)
    rid = hook.upload_file(str(tmp_path / "big.mp4")).rid
    expected = digest if key == "original" else served_sha256(hook, rid, key)
    emulator.faults(cdn_drop=[{"after_bytes": 7 * MiB}])

    result = hook.download_version(rid, f"s3://{BUCKET}/dl-{key}/", version=key, destination_conn_id=CONN_ID)

    [object_key] = s3_keys(s3, f"dl-{key}/")
    body = s3.client.get_object(Bucket=BUCKET, Key=object_key)["Body"].read()
    assert result.uri == f"s3://{BUCKET}/{object_key}" and CONN_ID not in result.uri
    assert hashlib.sha256(body).hexdigest() == result.sha256 == expected
    skipped = hook.download_version(rid, result.uri, version=key, destination_conn_id=CONN_ID, if_exists="skip")
    assert skipped.skipped and skipped.sha256 is None, "reading the object back would cost a download"


def test_a_failed_download_to_s3_leaves_no_object(hook, emulator, video, s3, media_server):
    rid, _, size = video
    url = hook.get_asset(rid)["versions"]["original"]["url"]
    media_server.add(url.split("://", 1)[1].split("/", 1)[1], b"y" * (size + 3))
    emulator.faults(cdn_redirect=[{"to": media_server.url}])
    with pytest.raises(CincopaDownloadSizeError):
        hook.download_version(rid, f"s3://{BUCKET}/failed/x.mp4", destination_conn_id=CONN_ID)
    assert s3_keys(s3, "failed/") == []
    assert s3.client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
