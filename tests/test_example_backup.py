"""
``example_dags/cincopa_library_backup.py`` end to end against the emulator and moto's S3: a
nightly backup to a bucket, again (no CDN request), every asset deleted, a restore, again (no
upload), one rendition downloaded; and no secret anywhere a user could read it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil

import pytest

from tests import test_example_dags, test_object_storage
from tests.conftest import DAGS_FOLDER
from tests.support import dag_bag, dag_test, make_file, task_states, xcom
from tests.test_example_dags import EXAMPLES, assert_no_leak
from tests.test_object_storage import BUCKET, CONN_ID

pytestmark = pytest.mark.emulator

# Fixtures: moto's S3 on loopback, and the s3_media connection to it, as the upload tests have them.
s3_server = test_object_storage.s3_server
s3 = test_object_storage.s3
chatty_logs = test_example_dags.chatty_logs


def run_example(dag_id: str, **params):
    """Run one of the file's three DAGs (``test_example_dags.run_example`` expects one per file)."""
    target = DAGS_FOLDER / "cincopa_library_backup.py"
    shutil.copy(EXAMPLES / "cincopa_library_backup.py", target)
    return dag_test(dag_bag(target), dag_id, run_conf=params)


def test_library_backup_restore_and_rendition_examples(
    emulator, airflow_db, s3, tmp_path, capfd, chatty_logs, monkeypatch
):
    prefix = f"backup-{secrets.token_hex(4)}/"
    monkeypatch.setenv("CINCOPA_BACKUP_URI", f"s3://{BUCKET}/{prefix}")
    monkeypatch.setenv("CINCOPA_BACKUP_CONN_ID", CONN_ID)
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    hook = CincopaHook()
    library = {}
    for i, name in enumerate(("keynote.mp4", "poster.png")):
        digest = make_file(tmp_path / name, 300_000 + i, seed=i)
        rid = hook.upload_file(str(tmp_path / name)).rid
        hook.set_meta(rid, caption=f"Caption {i}", tags=["backup", f"t{i}"], reference_id=f"cms-{i}")
        library[name] = digest
    capfd.readouterr()

    dr = run_example("cincopa_library_backup")
    assert dr.state == "success", task_states(dr)
    assert xcom(dr, "export_library")["exported"] == 2
    manifest = s3.client.get_object(Bucket=BUCKET, Key=f"{prefix}manifest.jsonl")["Body"].read().decode()
    entries = [json.loads(line) for line in manifest.splitlines()]
    assert {e["filename"]: e["sha256"] for e in entries} == library
    for entry in entries:
        body = s3.client.get_object(Bucket=BUCKET, Key=prefix + entry["path"])["Body"].read()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]

    cdn = len(emulator.requests("/cdn/"))
    again = run_example("cincopa_library_backup")
    assert xcom(again, "export_library")["exported"] == 0 and len(emulator.requests("/cdn/")) == cdn

    for rid in [a["rid"] for a in emulator.assets()]:
        hook.delete_asset(rid)
    restored = run_example("cincopa_library_restore")
    assert restored.state == "success", task_states(restored)
    assets = {a["filename"]: a for a in emulator.assets()}
    assert {name: a["sha256"] for name, a in assets.items()} == library
    assert assets["poster.png"]["caption"] == "Caption 1" and assets["poster.png"]["tags"] == "backup,t1"
    uploads = len(emulator.requests("/upload/"))
    assert xcom(run_example("cincopa_library_restore"), "restore_library") == {"restored": 0, "skipped": 2}
    assert len(emulator.requests("/upload/")) == uploads

    rid = assets["keynote.mp4"]["rid"]
    dr = run_example("cincopa_download_rendition", rid=rid)
    assert dr.state == "success", task_states(dr)
    result = xcom(dr, "download_rendition")
    assert result["version"] == "mp4_hd" and result["uri"].startswith(f"s3://{BUCKET}/{prefix}renditions/{rid}/")
    captured = capfd.readouterr()
    assert_no_leak(emulator, captured.out + captured.err)
