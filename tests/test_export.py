"""
The export operators run by real Airflow (``dag.test()``) against the emulator: one download with
its XCom and link; an export, an export again (no CDN request), every asset deleted, a restore
(same bytes and metadata), a restore again (no upload); a SIGKILLed export finished by a retry
without downloading again what it had finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from airflow_provider_cincopa.exceptions import CincopaApiError, CincopaInputError
from airflow_provider_cincopa.hooks._destinations import ORPHAN_AGE
from airflow_provider_cincopa.hooks._library import JOURNAL, RESTORE_LOG
from airflow_provider_cincopa.links.cincopa import ASSET_XCOM_KEY
from tests.conftest import DAGS_FOLDER
from tests.support import lineage_of, make_file, openlineage_events, run_dag, task_states, xcom
from tests.test_links import xcom_value

pytestmark = pytest.mark.emulator

HEADER = """
from datetime import datetime
from airflow.sdk import DAG
from airflow_provider_cincopa.operators.export import *
"""


def run(dag_id: str, body: str, **conf):
    source = HEADER + (
        f"with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)):\n"
        + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        + "\n"
    )
    return run_dag(DAGS_FOLDER, dag_id, source, run_conf=conf)


def upload_library(hook, folder: Path) -> dict[str, dict]:
    """Three assets (a video, an image, a text file), two with every metadata field: by filename."""
    folder.mkdir()
    files = {"talk.mp4": 2_000_003, "cover.jpg": 70_001, "notes.txt": 1_234}
    meta = {
        "talk.mp4": {"caption": "The talk", "description": "d1", "long_description": "long 1", "tags": ["a", "b"]},
        "cover.jpg": {"caption": "Couverture d'été", "description": "d2", "tags": ["c"], "reference_id": "cms-cover"},
        "notes.txt": {"caption": "Notes", "reference_id": "cms-notes", "long_description": "long 3"},
    }
    library = {}
    for i, (name, size) in enumerate(files.items()):
        digest = make_file(folder / name, size, seed=i)
        rid = hook.upload_file(str(folder / name)).rid
        hook.set_meta(rid, **meta[name])
        library[name] = {"rid": rid, "sha256": digest, "size": size, **meta[name]}
    return library


def test_download_operator_templated_with_xcom_and_link(emulator, airflow_db, hook, tmp_path):
    make_file(tmp_path / "clip.mp4", 1_000_001)
    rid = hook.upload_file(str(tmp_path / "clip.mp4")).rid
    dr = run(
        "export_download_one",
        f"""
        CincopaDownloadAssetOperator(task_id="download", rid="{{{{ dag_run.conf['rid'] }}}}",
            destination_path="{tmp_path}/out/", version=["mp4_4k", "original"], if_exists="skip")
        """,
        rid=rid,
    )
    assert dr.state == "success", task_states(dr)
    result = xcom(dr, "download")
    assert result["rid"] == rid and result["version"] == "original" and result["size"] == 1_000_001
    assert result["uri"] == str(tmp_path / "out" / "clip.mp4")
    assert result["sha256"] == hashlib.sha256((tmp_path / "clip.mp4").read_bytes()).hexdigest()
    assert xcom_value(dr, "download", ASSET_XCOM_KEY) == rid, "the task's 'Cincopa asset' link opens it"


def test_download_task_rides_out_a_drop_and_a_503_in_one_try(emulator, airflow_db, hook, tmp_path):
    digest = make_file(tmp_path / "clip.mp4", 3_000_001)
    rid = hook.upload_file(str(tmp_path / "clip.mp4")).rid
    emulator.faults(cdn_drop=[{"after_bytes": 1_500_000}], fail=[{"path_prefix": "/cdn/", "nth": 2, "status": 503}])
    dr = run(
        "export_download_faults",
        f'CincopaDownloadAssetOperator(task_id="download", rid={rid!r}, destination_path="{tmp_path}/out.mp4")',
    )
    assert dr.state == "success", task_states(dr)
    [ti] = dr.get_task_instances()
    assert ti.try_number == 1 and xcom(dr, "download")["sha256"] == digest
    statuses = [r["status"] for r in emulator.requests("/cdn/")]
    assert statuses == [206, 503, 206], "dropped (logged as sent), refused, resumed"
    assert sum(r["response_length"] for r in emulator.requests("/cdn/")) < 1.6 * 3_000_001


def test_download_task_fails_on_a_size_mismatch_leaving_nothing(emulator, airflow_db, hook, tmp_path, media_server):
    make_file(tmp_path / "clip.mp4", 2_000)
    rid = hook.upload_file(str(tmp_path / "clip.mp4")).rid
    url = hook.get_asset(rid)["versions"]["original"]["url"]
    media_server.add(url.split("://", 1)[1].split("/", 1)[1], b"q" * 1_999)
    emulator.faults(cdn_redirect=[{"to": media_server.url}])
    dr = run(
        "export_download_mismatch",
        f'CincopaDownloadAssetOperator(task_id="download", rid={rid!r}, destination_path="{tmp_path}/out/")',
    )
    assert dr.state == "failed" and task_states(dr) == {"download": "failed"}
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_download_operator_refuses_a_bad_if_exists_at_parse_time():
    from airflow_provider_cincopa.operators.export import CincopaDownloadAssetOperator

    with pytest.raises(CincopaInputError, match="if_exists must be one of"):
        CincopaDownloadAssetOperator(task_id="x", rid="r", destination_path="/tmp/x", if_exists="replace")


EXPORT = """
CincopaExportAssetsOperator(task_id="export", destination_path="{dest}", max_parallel_downloads=2)
"""
RESTORE = """
CincopaRestoreAssetsOperator(task_id="restore", manifest_path="{dest}/manifest.jsonl")
"""


def test_export_then_restore_round_trip(emulator, airflow_db, hook, tmp_path):
    library = upload_library(hook, tmp_path / "source")
    dest = tmp_path / "backup"

    first = run("export_library", EXPORT.format(dest=dest))
    assert first.state == "success", task_states(first)
    size = sum(a["size"] for a in library.values())
    assert xcom(first, "export") == {
        "exported": 3,
        "skipped": 0,
        "bytes": size,
        "manifest": str(dest / "manifest.jsonl"),
    }
    entries = {e["filename"]: e for e in map(json.loads, (dest / "manifest.jsonl").read_text().splitlines())}
    assert set(entries) == set(library)
    for name, asset in library.items():
        entry = entries[name]
        assert (entry["rid"], entry["sha256"]) == (asset["rid"], asset["sha256"])
        assert entry["path"] == f"{asset['rid']}/{name}"
        assert hashlib.sha256((dest / entry["path"]).read_bytes()).hexdigest() == asset["sha256"]
        assert entry["caption"] == asset["caption"] and entry["tags"] == asset.get("tags", [])
        assert set(entry) >= {"description", "long_description", "reference_id", "type", "modified", "version"}
    assert not (dest / JOURNAL).exists() or list((dest / JOURNAL).iterdir()) == []

    cdn_before = len(emulator.requests("/cdn/"))
    second = run("export_library", EXPORT.format(dest=dest))
    assert xcom(second, "export") == {**xcom(first, "export"), "exported": 0, "skipped": 3, "bytes": 0}
    assert len(emulator.requests("/cdn/")) == cdn_before, "an unchanged library costs no CDN request"

    for asset in library.values():
        hook.delete_asset(asset["rid"])
    assert emulator.assets() == []

    restored = run("restore_library", RESTORE.format(dest=dest))
    assert restored.state == "success", task_states(restored)
    assert xcom(restored, "restore") == {"restored": 3, "skipped": 0}
    now = {a["filename"]: a for a in emulator.assets()}
    assert set(now) == set(library)
    for name, asset in library.items():
        got = now[name]
        assert got["sha256"] == asset["sha256"] and got["caption"] == asset["caption"]
        assert got["description"] == asset.get("description", "")
        assert got["long_description"] == asset.get("long_description", "")
        assert got["reference_id"] == asset.get("reference_id", "")
        assert got["tags"] == ",".join(asset.get("tags", []))

    uploads_before = len(emulator.requests("/upload/"))
    again = run("restore_library", RESTORE.format(dest=dest))
    assert xcom(again, "restore") == {"restored": 0, "skipped": 3}
    assert len(emulator.requests("/upload/")) == uploads_before, "a second restore moves no byte"
    assert len(emulator.assets()) == 3


def test_an_asset_changed_since_the_last_export_is_downloaded_again(emulator, airflow_db, hook, tmp_path):
    library = upload_library(hook, tmp_path / "source")
    dest = tmp_path / "backup"
    hook.export_assets(str(dest))
    hook.set_meta(library["cover.jpg"]["rid"], caption="New cover")  # bumps `modified`
    before = len(emulator.requests("/cdn/"))

    result = hook.export_assets(str(dest))

    assert (result.exported, result.skipped) == (1, 2)
    assert [r["path"].split("/")[2] for r in emulator.requests("/cdn/")[before:]] == [library["cover.jpg"]["rid"]]
    entries = [json.loads(line) for line in (dest / "manifest.jsonl").read_text().splitlines()]
    assert {e["caption"] for e in entries} == {"The talk", "New cover", "Notes"}


KILLED_EXPORT = """
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
CincopaHook().export_assets({dest!r}, max_parallel_downloads=1)
"""


def test_a_sigkilled_export_retried_does_not_download_again_what_it_finished(emulator, hook, tmp_path):
    folder = tmp_path / "source"
    folder.mkdir()
    digests = {}
    for i in range(5):
        digests[f"v{i}.mp4"] = make_file(folder / f"v{i}.mp4", 200_000, seed=i)
        hook.upload_file(str(folder / f"v{i}.mp4"))
    dest = tmp_path / "backup"
    emulator.faults(cdn_rate=400_000)  # about half a second per asset: time to kill it mid-way
    proc = subprocess.Popen([sys.executable, "-c", KILLED_EXPORT.format(dest=str(dest))], env=dict(os.environ))
    journal = dest / JOURNAL
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if journal.is_dir() and len([p for p in journal.iterdir() if p.suffix == ".json"]) >= 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {p.stem for p in journal.iterdir() if p.suffix == ".json"}
    assert 2 <= len(finished) < 5, "killed mid-way"
    assert not (dest / "manifest.jsonl").exists()
    left = list(dest.glob("*/.cincopa-part-*"))
    assert left, "the downloads in flight left their temporary files"
    for part in left:  # as the retry finds them after its retry_delay
        os.utime(part, (part.stat().st_atime, part.stat().st_mtime - ORPHAN_AGE - 1))
    emulator.clear_faults()
    before = len(emulator.requests("/cdn/"))

    result = hook.export_assets(str(dest))

    fetched_again = {r["path"].split("/")[2] for r in emulator.requests("/cdn/")[before:]}
    assert fetched_again and not fetched_again & finished
    assert result.exported + result.skipped == 5 and result.exported == len(fetched_again)
    entries = [json.loads(line) for line in (dest / "manifest.jsonl").read_text().splitlines()]
    assert {e["filename"]: e["sha256"] for e in entries} == digests
    for entry in entries:
        assert hashlib.sha256((dest / entry["path"]).read_bytes()).hexdigest() == entry["sha256"]
    assert list(dest.glob("*/.cincopa-part-*")) == [], "the retry deleted what the killed try left"


def test_openlineage_sees_the_cincopa_asset_in_and_the_file_out(emulator, airflow_db, hook, tmp_path):
    """`airflow dags test` with the OpenLineage provider's file transport: the real listener's events."""
    make_file(tmp_path / "lineage.mp4", 4096)
    rid = hook.upload_file(str(tmp_path / "lineage.mp4")).rid
    dag_id = "export_lineage"
    body = f'CincopaDownloadAssetOperator(task_id="download", rid={rid!r}, destination_path="{tmp_path}/out/")'
    (DAGS_FOLDER / f"{dag_id}.py").write_text(
        HEADER + f"with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)):\n    {body}\n"
    )
    event = openlineage_events(dag_id, airflow_db, tmp_path)["download"]
    assert lineage_of(event) == ([("cincopa://asset", rid)], [("file", str(tmp_path / "out" / "lineage.mp4"))])


def test_a_restore_cut_short_after_an_upload_is_finished_without_uploading_again(emulator, hook, tmp_path):
    """Cincopa refuses one asset's metadata after its upload: the next run sets it on that asset."""
    library = upload_library(hook, tmp_path / "source")
    dest = tmp_path / "backup"
    hook.export_assets(str(dest))
    for asset in library.values():
        hook.delete_asset(asset["rid"])

    # The first set_meta of the restore is refused (a 200 with success:false is not retried).
    refused = {"path_prefix": "/v2/asset.set_meta", "status": 200, "body": '{"success": false, "message": "busy"}'}
    emulator.faults(fail=[{**refused, "times": 1}])
    with pytest.raises(CincopaApiError, match="busy"):
        hook.restore_assets(str(dest / "manifest.jsonl"))
    [orphan] = emulator.assets()
    assert orphan["caption"] == ""
    emulator.clear_faults()

    assert hook.restore_assets(str(dest / "manifest.jsonl")).to_dict() == {"restored": 3, "skipped": 0}
    now = {a["filename"]: a for a in emulator.assets()}
    assert len(emulator.assets()) == 3 and now[orphan["filename"]]["rid"] == orphan["rid"], "no second upload"
    assert {name: a["caption"] for name, a in now.items()} == {n: a["caption"] for n, a in library.items()}


def test_a_restore_log_record_edited_by_hand_is_named(emulator, hook, tmp_path):
    library = upload_library(hook, tmp_path / "source")
    dest = tmp_path / "backup"
    hook.export_assets(str(dest))
    old = library["talk.mp4"]["rid"]
    (dest / RESTORE_LOG).mkdir()
    (dest / RESTORE_LOG / f"{old}.json").write_text("{not json")
    with pytest.raises(CincopaInputError, match=rf"restore log .*{old}.json is not JSON: remove it to restore {old}"):
        hook.restore_assets(str(dest / "manifest.jsonl"))
