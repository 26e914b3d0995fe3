"""Bad inputs to downloads, exports and restores get a clear named error (docs/bad-input.md, "Media out")."""

from __future__ import annotations

import json

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError
from tests.support import make_file

pytestmark = pytest.mark.emulator


@pytest.fixture
def rid(hook, tmp_path) -> str:
    make_file(tmp_path / "a.mp4", 1000)
    return hook.upload_file(str(tmp_path / "a.mp4")).rid


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        ("", "No destination: destination_path is empty"),
        ("nosuchproto://b/k", "Unsupported or malformed destination 'nosuchproto://b/k'"),
    ],
)
def test_bad_destinations_are_refused_before_any_cdn_request(hook, emulator, rid, destination, message):
    with pytest.raises(CincopaInputError, match=message):
        hook.download_version(rid, destination)
    assert emulator.requests("/cdn/") == []


def test_a_folder_given_as_a_file_and_an_undefined_destination_conn_id(hook, emulator, rid, tmp_path):
    with pytest.raises(CincopaInputError, match="is a directory: end it with '/' to download into it"):
        hook.download_version(rid, str(tmp_path))
    with pytest.raises(CincopaInputError, match="destination_conn_id 'nope', the connection to write s3://b/k"):
        hook.download_version(rid, "s3://b/k", destination_conn_id="nope")
    assert emulator.requests("/cdn/") == []


def test_export_parallelism_is_checked_at_parse_time():
    from airflow_provider_cincopa.operators.export import CincopaExportAssetsOperator

    with pytest.raises(CincopaInputError, match="max_parallel_downloads must be a whole number >= 1, got 0"):
        CincopaExportAssetsOperator(task_id="x", destination_path="/tmp/x/", max_parallel_downloads=0)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (None, "The manifest .*manifest.jsonl does not exist"),
        ("not json\n", "manifest.jsonl line 1 is not a manifest entry"),
        (json.dumps({"rid": "R0000000001", "path": "../../etc/passwd"}) + "\n", "has a path outside the export"),
    ],
)
def test_bad_manifests_are_refused_before_any_upload(hook, emulator, tmp_path, manifest, message):
    if manifest is not None:
        (tmp_path / "manifest.jsonl").write_text(manifest)
    with pytest.raises(CincopaInputError, match=message):
        hook.restore_assets(str(tmp_path / "manifest.jsonl"))
    assert emulator.requests("/upload/") == []


def test_a_manifest_path_must_name_a_file(hook):
    with pytest.raises(CincopaInputError, match=r"manifest_path must name a manifest file"):
        hook.restore_assets("/tmp/backup/")
