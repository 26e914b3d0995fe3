"""The probe's report and its download check, without the emulator: loopback servers only."""

from __future__ import annotations

import hashlib
import json

import pytest

from airflow_provider_cincopa.probe._roundtrip import download_matches
from airflow_provider_cincopa.probe.report import CONFIRMED, CONTRADICTED, ERROR, NOT_CHECKED, Finding, Report

pytestmark = pytest.mark.unit

BODY = b"probe bytes " * 1000


@pytest.fixture(scope="module")
def cdn(media_server) -> str:
    """The loopback file server of tests/conftest.py, serving BODY at /file and BODY changed at /bad."""
    media_server.add("file", BODY)
    media_server.add("bad", b"X" + BODY[1:])
    return media_server.url


DIGEST = hashlib.sha256(BODY).hexdigest()


@pytest.mark.parametrize(("path", "status"), [("/file", CONFIRMED), ("/bad", CONTRADICTED)])
def test_download_is_compared_by_sha256(cdn, path, status):
    got, evidence = download_matches(cdn + path, DIGEST, len(BODY))
    assert got == status and DIGEST in evidence


def test_a_missing_download_is_not_checked(cdn):
    assert download_matches(cdn + "/gone", DIGEST, len(BODY))[0] == NOT_CHECKED


@pytest.mark.parametrize(
    ("statuses", "code"),
    [((CONFIRMED, NOT_CHECKED), 0), ((CONFIRMED, CONTRADICTED), 1), ((CONTRADICTED, ERROR), 2), ((), 0)],
)
def test_exit_code(statuses, code):
    report = Report(api="https://api.example/v2/", read_only=False)
    for i, status in enumerate(statuses):
        report.add(Finding(f"row{i}", "an assumption", status))
    assert report.exit_code() == code


def test_evidence_is_redacted_in_both_reports(tmp_path):
    report = Report(api="https://api.example/v2/?api_token=SECRETTOKEN1", read_only=True)
    report.add(Finding("asset.get_upload_url", "a | pipe", CONFIRMED, "https://up.example/u?hash=SECRETHASH99&x=1"))
    json_path, md_path = report.write(tmp_path / "r.json")
    assert (json_path.name, md_path.name) == ("r.json", "r.md")
    for text in (json_path.read_text(), md_path.read_text()):
        assert "SECRETTOKEN1" not in text and "SECRETHASH99" not in text and "hash=***" in text
    assert json.loads(json_path.read_text())["counts"][CONFIRMED] == 1
    assert "a \\| pipe" in md_path.read_text(), "a table cell keeps its column"


def test_unknown_status_is_refused():
    with pytest.raises(ValueError, match="unknown probe status"):
        Finding("ping", "an assumption", "maybe")
