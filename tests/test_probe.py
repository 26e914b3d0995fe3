"""
``cincopa-probe`` against the emulator: a report naming every row of docs/api-coverage.md with
no secret in it, the probe's upload sent in parallel chunks and deleted, ``--read-only`` sending
no write request, a wrong token failing the probe (exit code 2).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TOKEN
from tests.support import secrets_seen_by

pytestmark = pytest.mark.emulator

DOCS = Path(__file__).parent.parent / "docs"
#: What the emulator's temp and upload tokens look like (emulator/state.py).
TEMP_TOKEN = re.compile(r"tmp[A-Za-z0-9_-]{32}")
#: Methods that read only: all --read-only may call.
READ_METHODS = {"ping", "asset.list", "asset.get_tags", "portal.check", "portal.list", "webhook.list"}
READ_METHODS |= {"gallery.list", "gallery.get_items"}


def coverage_rows() -> set[str]:
    """The first column of every table row of docs/api-coverage.md: a method, or a name before " (..."."""
    rows = set()
    vocabulary = False  # the table that defines the marks (seen, doc, ...) lists no assumption
    for line in (DOCS / "api-coverage.md").read_text().splitlines():
        if not line.startswith("| ") or line.startswith("|---"):
            continue
        first = line.split("|")[1].strip()
        if first in ("method", "what", "mark"):  # a header
            vocabulary = first == "mark"
            continue
        if not vocabulary:
            rows.add(first.split("`")[1] if first.startswith("`") else first.split(" (")[0])
    return rows


def probe(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict, str]:
    """Run the probe's CLI as a user would; return the process, the JSON report and the Markdown one."""
    base = tmp_path / "report"
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_cincopa.probe", "--report", str(base), "--wait", "5", *args],
        capture_output=True,
        text=True,
        timeout=240,
    )
    json_path, md_path = base.with_suffix(".json"), base.with_suffix(".md")
    if not json_path.exists():
        return done, {}, ""
    return done, json.loads(json_path.read_text()), md_path.read_text()


def assert_no_secret(emulator, *texts: str) -> None:
    secrets = secrets_seen_by(emulator)
    assert TOKEN in secrets
    for text in texts:
        for secret in secrets:
            assert secret not in text
        assert not TEMP_TOKEN.search(text), "a temp or upload token"


def test_probe_reports_every_assumption_and_deletes_its_upload(emulator, tmp_path):
    # The host takes 0.3 s to answer each chunk it has read: chunks in flight together show.
    emulator.faults(latency={"path_prefix": "/upload/", "seconds": 0.3, "after_body": True})
    done, report, markdown = probe(tmp_path, "--conn-id", "cincopa_default")
    assert done.returncode == 0, done.stdout + done.stderr
    findings = {f["row"]: f for f in report["findings"]}
    assert coverage_rows() <= set(findings), coverage_rows() - set(findings)
    assert all(f"`{row}`" in markdown for row in coverage_rows())
    statuses = {row: f["status"] for row, f in findings.items()}
    for row in ("ping", "asset.list", "portal.check", "portal.list", "gallery.list", "gallery.get_items"):
        assert statuses[row] == "confirmed", findings[row]
    for row in ("token.get_temp", "upload.get_upload_token", "Upload host", "asset.get_upload_url", "asset.set_meta"):
        assert statuses[row] == "confirmed", findings[row]
    assert statuses["asset.delete"] == "confirmed", findings["asset.delete"]
    assert "HTTP 403 for asset.get_tags" in findings["token.get_temp"]["evidence"], "the temp token was limited"
    # The gallery update method: gallery.set_meta answers otherwise than no method; gallery.update alike.
    gallery = findings["gallery.set_meta"]
    assert gallery["status"] == "confirmed" and "gallery not found" in gallery["evidence"], gallery
    missing = gallery["evidence"].split("no such method -> ")[1].split("; gallery.set_meta")[0]
    assert f"gallery.update -> {missing}" in gallery["evidence"], gallery
    # The emulator's CDN serves the original: what was sent in parallel chunks came back whole.
    parallel = findings["Parallel chunks"]
    assert statuses["Parallel chunks"] == "confirmed", parallel
    sent, downloaded = parallel["evidence"].split("; downloaded ")
    assert sent.split(" sha256 ")[1] == downloaded.split(" sha256 ")[1], parallel
    assert report["counts"]["contradicted"] == 0 and report["read_only"] is False
    uploads = emulator.requests("/upload/")
    assert len(uploads) == 5 and max(r["alongside"] for r in uploads) >= 1, "chunks in flight together"
    assert emulator.assets() == [], "the probe deleted its upload"
    assert len(secrets_seen_by(emulator)) >= 2, "the upload URL's hash is among the secrets searched for"
    assert_no_secret(emulator, json.dumps(report), markdown, done.stdout, done.stderr)


def test_read_only_probe_sends_no_write_request(emulator, tmp_path):
    done, report, markdown = probe(tmp_path, "--read-only")
    assert done.returncode == 0, done.stdout + done.stderr
    called = {r["path"].removeprefix("/v2/").removesuffix(".json") for r in emulator.requests()}
    called.discard("/_emulator/state")
    assert called and called <= READ_METHODS, called - READ_METHODS
    findings = {f["row"]: f for f in report["findings"]}
    assert coverage_rows() <= set(findings)
    assert findings["Parallel chunks"]["status"] == "not checked" and report["read_only"] is True
    assert "--read-only" in findings["Parallel chunks"]["evidence"]
    assert_no_secret(emulator, json.dumps(report), markdown, done.stdout, done.stderr)


def test_wrong_token_is_a_probe_error_without_the_token(emulator, tmp_path, monkeypatch):
    conn = json.loads(emulator.connection_json())
    conn["password"] = "WRONGTOKEN" + TOKEN[-10:]
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", json.dumps(conn))
    done, report, _ = probe(tmp_path)
    assert done.returncode == 2 and report == {}
    assert "403" in done.stderr and conn["password"] not in done.stdout + done.stderr


def test_unknown_connection_is_a_probe_error(emulator, tmp_path):
    done, report, _ = probe(tmp_path, "--conn-id", "no_such_connection")
    assert done.returncode == 2 and report == {}
    assert "no_such_connection" in done.stderr and "isn't defined" in done.stderr


def test_unwritable_report_is_a_probe_error(emulator, tmp_path):
    done, _, _ = probe(tmp_path / "no" / "such" / "folder", "--read-only")
    assert done.returncode == 2 and "cannot write the report" in done.stderr, done.stderr


def test_an_answer_of_another_shape_is_contradicted(emulator, tmp_path):
    # portal.list answers its portals as something other than a list.
    emulator.faults(fail=[{"path_prefix": "/v2/portal.list", "status": 200, "body": '{"success": true, "portals": 3}'}])
    done, report, markdown = probe(tmp_path, "--read-only")
    assert done.returncode == 1, done.stdout + done.stderr
    [finding] = [f for f in report["findings"] if f["status"] == "contradicted"]
    assert finding["row"] == "portal.list" and "| `portal.list` |" in markdown
    assert "contradicted: portal.list" in done.stdout


def test_import_url_settles_the_status_words_and_deletes_the_import(emulator, media_server, tmp_path):
    url = media_server.add("probe-import.mp4", b"p" * 50_000)
    done, report, _ = probe(tmp_path, "--import-url", url)
    assert done.returncode == 0, done.stdout + done.stderr
    findings = {f["row"]: f for f in report["findings"]}
    assert findings["asset.upload_from_url"]["status"] == "confirmed"
    status = findings["asset.upload_from_url_get_status"]
    assert status["status"] == "confirmed" and "read as done" in status["evidence"], status
    assert "was deleted" in findings["asset.upload_from_url_abort"]["evidence"]
    assert emulator.assets() == [] and len(emulator.state()["url_imports"]) == 1


def test_an_import_still_running_is_aborted(emulator, media_server, tmp_path):
    url = media_server.add("probe-slow.mp4", b"s" * 200_000)
    emulator.faults(import_rate=1000)  # 200 s to download: still running when the probe stops waiting
    done, report, _ = probe(tmp_path, "--import-url", url, "--wait", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    findings = {f["row"]: f for f in report["findings"]}
    assert findings["asset.upload_from_url_get_status"]["status"] == "not checked"
    assert "inprogress" in findings["asset.upload_from_url_get_status"]["evidence"]
    assert findings["asset.upload_from_url_abort"]["status"] == "confirmed"
    [imported] = emulator.state()["url_imports"]
    assert imported["status"] == "aborted" and emulator.assets() == [], imported


def test_import_url_with_read_only_is_refused(emulator, tmp_path):
    done, report, _ = probe(tmp_path, "--read-only", "--import-url", "https://example.com/a.mp4")
    assert done.returncode == 2 and report == {} and "cannot go with --read-only" in done.stderr
    assert emulator.requests("/v2/") == [], "refused before any request"


def test_a_refused_upload_is_contradicted_and_every_row_still_listed(emulator, tmp_path):
    emulator.faults(fail=[{"path_prefix": "/upload/", "status": 200, "body": "error", "times": 100}])
    done, report, _ = probe(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    findings = {f["row"]: f for f in report["findings"]}
    assert coverage_rows() <= set(findings)
    assert findings["Upload host"]["status"] == "contradicted"
    assert findings["Parallel chunks"]["status"] == "not checked"
    assert findings["Parallel chunks"]["evidence"] == "the upload before it failed"
    assert emulator.assets() == []


def test_dashboard_row_names_a_page_to_open_with_the_connections_template(emulator, hook, tmp_path, monkeypatch):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"c" * 100)
    rid = hook.upload_file(str(path)).rid
    template = "https://dash.example/assets/{rid}/view"
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(dashboard_url_template=template))
    done, report, _ = probe(tmp_path, "--read-only")
    assert done.returncode == 0, done.stdout + done.stderr
    [finding] = [f for f in report["findings"] if f["row"] == "Dashboard page of an asset"]
    assert finding["status"] == "not checked" and template in finding["assumption"]
    assert f"open https://dash.example/assets/{rid}/view" in finding["evidence"]
    assert report["client"].startswith("airflow-provider-cincopa/") and report["created"].endswith("+00:00")
