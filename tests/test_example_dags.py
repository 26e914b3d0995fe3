"""
Every example DAG imports cleanly and runs end to end against the emulator, and no secret (the
api_token, a temp token, an upload hash, a webhook security key) shows up anywhere a user could
read it: task logs and output, exception texts, XComs, rendered fields, serialised triggers.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from tests.conftest import AIRFLOW_HOME, DAGS_FOLDER, TOKEN
from tests.support import dag_bag, dag_test, make_file, secrets_seen_by, task_states, xcom

EXAMPLES = Path(__file__).parent.parent / "example_dags"
SECURITY_KEY = "WEBHOOKKEY" + TOKEN[-8:]


@pytest.mark.emulator
def test_example_dags_import_without_errors():
    bag = dag_bag(EXAMPLES)
    assert bag.import_errors == {}
    assert set(bag.dag_ids) == {
        "cincopa_media_ingest",
        "cincopa_ingest_from_url",
        "cincopa_bulk_ingest",
        "cincopa_cleanup",
        "cincopa_gallery",
        "cincopa_on_new_asset",
        "cincopa_library_backup",
        "cincopa_library_restore",
        "cincopa_download_rendition",
    }


def run_example(dag_id: str, **params):
    target = DAGS_FOLDER / f"{dag_id}.py"
    shutil.copy(EXAMPLES / f"{dag_id}.py", target)
    return dag_test(dag_bag(target), dag_id, run_conf=params)


@pytest.fixture
def chatty_logs():
    """DEBUG on urllib3 and httpx: they log raw URLs, the token in the query string included."""
    loggers = [logging.getLogger(name) for name in ("urllib3", "httpx", "httpcore")]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield
    for lg, level in zip(loggers, old, strict=True):
        lg.setLevel(level)


def assert_no_leak(emulator, captured: str, *extra_texts: str) -> None:
    secrets = secrets_seen_by(emulator, SECURITY_KEY)
    assert len(secrets) >= 2
    texts = {"task output and logs": captured, **{f"text {i}": t for i, t in enumerate(extra_texts)}}
    for log_file in (AIRFLOW_HOME / "logs").rglob("*"):
        if log_file.is_file():
            texts[str(log_file)] = log_file.read_text(errors="replace")
    # XComs, rendered template fields, serialised triggers, task instance notes: all live in the DB,
    # and its latest writes in its write-ahead log where SQLite keeps one (Airflow 3.2+ does).
    for db_file in (AIRFLOW_HOME / "airflow.db", AIRFLOW_HOME / "airflow.db-wal"):
        if db_file.exists():
            texts[f"metadata database ({db_file.name})"] = db_file.read_bytes().decode("latin-1")
    for where, text in texts.items():
        for secret in secrets:
            assert secret not in text, f"a secret leaked into {where}"


def test_media_ingest_example_end_to_end(emulator, airflow_db, tmp_path, capfd, chatty_logs, monkeypatch):
    # The security key from a Variable, as in a deployment (the DAG file's fallback is no secret).
    monkeypatch.setenv("AIRFLOW_VAR_CINCOPA_WEBHOOK_SECURITY_KEY", SECURITY_KEY)
    video = tmp_path / "sample.mp4"
    digest = make_file(video, 20 * 1024 * 1024 + 17)
    emulator.faults(sync_polls=2)  # not synced at first: the sensor defers, its trigger waits
    dr = run_example("cincopa_media_ingest", video_path=str(video), webhook_url="http://127.0.0.1:9/hook")
    captured = capfd.readouterr()
    assert dr.state == "success", task_states(dr)
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and asset["tags"] == "airflow-example,ingest"
    assert asset["reference_id"] == "cms-sample-video"
    assert f"New Cincopa asset rid={asset['rid']}" in captured.out + captured.err
    assert xcom(dr, "report")["rid"] == asset["rid"]
    assert xcom(dr, "report")["hls_url"] == f"https://rtcdn.cincopa.com/m3u8.aspx?rid={asset['rid']}"
    assert xcom(dr, "playback_links")["versions"]["ts_720p"]["direct_url"].endswith(f"rid={asset['rid']}&ver=ts_720p")
    assert "mp4_hd" in xcom(dr, "report")["versions"], "reported once synced, with its renditions"
    assert xcom(dr, "wait_until_synced")["syncstatus"] == "synced"
    # 20 MiB in 8 MiB chunks: 8 + 8 + 3, and the completing last MiB sent alone, after the source
    # was checked unchanged (docs/uploads.md, "One version of the file").
    sent = len(emulator.requests("/upload/"))
    assert sent == 4, "20 MiB in 8 MiB chunks"
    assert_no_leak(emulator, captured.out + captured.err)
    # Run again: the asset is found by its reference_id, nothing new is made and no byte is sent.
    again = run_example("cincopa_media_ingest", video_path=str(video), webhook_url="http://127.0.0.1:9/hook")
    assert again.state == "success", task_states(again)
    assert [a["rid"] for a in emulator.assets()] == [asset["rid"]] == [xcom(again, "report")["rid"]]
    assert len(emulator.requests("/upload/")) == sent, "the re-run sent no chunk"


def test_ingest_from_url_example_end_to_end(emulator, airflow_db, media_server, capfd, chatty_logs):
    url = media_server.add("intro.mp4", b"i" * 300_000)
    emulator.faults(import_rate=200_000)
    dr = run_example("cincopa_ingest_from_url", source_url=url)
    captured = capfd.readouterr()
    assert dr.state == "success", task_states(dr)
    [asset] = emulator.assets()
    assert asset["tags"] == "airflow-example,imported" and xcom(dr, "wait_for_asset") == asset["rid"]
    assert_no_leak(emulator, captured.out + captured.err)
    # Run again: the import is skipped (and the waits after it), no second asset is made.
    again = run_example("cincopa_ingest_from_url", source_url=url)
    assert again.state == "success", task_states(again)
    assert task_states(again) == {"start_import": "skipped", "wait_for_asset": "skipped", "tag_asset": "skipped"}
    assert len(emulator.assets()) == 1 and len(emulator.state()["url_imports"]) == 1


def test_bulk_ingest_and_cleanup_examples(emulator, airflow_db, tmp_path, capfd, chatty_logs):
    folder = tmp_path / "videos"
    folder.mkdir()
    for i in range(3):
        make_file(folder / f"v{i}.mp4", 1000 * (i + 1), seed=i)
    (folder / "notes.txt").write_text("not a video")
    dr = run_example("cincopa_bulk_ingest", source_folder=f"file://{folder}")
    assert dr.state == "success", task_states(dr)
    assert sorted(a["filename"] for a in emulator.assets()) == ["v0.mp4", "v1.mp4", "v2.mp4"]
    # A new file in the folder, and the DAG again: only the new file is uploaded.
    make_file(folder / "v3.mp4", 500, seed=3)
    uploads = len(emulator.requests("/upload/"))
    dr = run_example("cincopa_bulk_ingest", source_folder=f"file://{folder}")
    assert dr.state == "success", task_states(dr)
    assert sorted(a["filename"] for a in emulator.assets()) == ["v0.mp4", "v1.mp4", "v2.mp4", "v3.mp4"]
    assert len(emulator.requests("/upload/")) == uploads + 1

    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    CincopaHook().set_webhook("http://127.0.0.1:9/hook", security_key=SECURITY_KEY)
    dr = run_example("cincopa_cleanup", webhook_url="http://127.0.0.1:9/hook")
    captured = capfd.readouterr()
    assert dr.state == "success", task_states(dr)
    state = emulator.state()
    assert state["assets"] == [] and state["webhooks"] == []
    assert_no_leak(emulator, captured.out + captured.err)


def test_gallery_example_end_to_end(emulator, airflow_db, tmp_path, capfd, chatty_logs):
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    hook = CincopaHook()
    tagged = {}
    for name, tags in (("f1.mp4", "featured"), ("f2.mp4", "featured,news"), ("old.mp4", "featured,retired")):
        path = tmp_path / name
        make_file(path, 500, seed=len(tagged))
        tagged[name] = hook.upload_file(str(path)).rid
        hook.set_meta(tagged[name], tags=tags)
    video = tmp_path / "showcase.mp4"
    make_file(video, 3000)
    # The set-up above ran outside any task: on Airflow 3.0 nothing masks this test process's own
    # urllib3 debug lines until dag.test() installs a filter, so only the DAG run's output is checked.
    capfd.readouterr()
    dr = run_example("cincopa_gallery", video_path=str(video))
    captured = capfd.readouterr()
    assert dr.state == "success", task_states(dr)
    report = xcom(dr, "report")
    [uploaded] = [a["rid"] for a in emulator.assets() if a["filename"] == "showcase.mp4"]
    # The upload first (inserted at the top), then the featured assets in asset.list's order.
    assert report["rids"][0] == uploaded and sorted(report["rids"][1:]) == sorted([tagged["f1.mp4"], tagged["f2.mp4"]])
    contents = emulator.state()["gallery_contents"][report["fid"]]
    assert contents["name"] == "Airflow showcase" and contents["items"] == report["rids"]
    assert f"Cincopa gallery fid={report['fid']} holds 3 asset(s)" in captured.out + captured.err
    assert_no_leak(emulator, captured.out + captured.err)

    # Nothing tagged: the add and remove steps are skipped, the report still runs, the gallery is reused.
    dr = run_example("cincopa_gallery", video_path=str(video), feature_tag="none", retire_tag="none")
    assert dr.state == "success", task_states(dr)
    states = task_states(dr)
    assert states["add_featured"] == states["remove_retired"] == "skipped" and states["report"] == "success"
    assert xcom(dr, "report")["fid"] == report["fid"]
