"""Metadata never costs a duplicate asset: checked before the first byte, and a refusal after it is not retried."""

from __future__ import annotations

import contextlib
import importlib
import json

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError
from tests.conftest import DAGS_FOLDER
from tests.support import has_task_state_store, make_file, run_dag, task_states
from tests.test_operators import HEADER, dag_source, run

pytestmark = pytest.mark.emulator

#: How Cincopa may refuse metadata once the asset exists, as emulator fault rules.
REFUSALS = {
    # What an IIS/ASP.NET front answers to a query string beyond its limit.
    "414": {"fail": [{"path_prefix": "/v2/asset.set_meta", "status": 414, "body": "URI Too Long", "times": 99}]},
    "success-false": {
        "malformed": [
            {
                "path_prefix": "/v2/asset.set_meta",
                "status": 200,
                "content_type": "application/json",
                "body": json.dumps({"success": False, "message": "caption refused"}),
                "times": 99,
            }
        ]
    },
    # Transient: the hook's own retries are off (retries=0), so the task sees it.
    "503": {"fail": [{"path_prefix": "/v2/asset.set_meta", "status": 503, "times": 1}]},
}


@contextlib.contextmanager
def fernet_key(present: bool, monkeypatch: pytest.MonkeyPatch):
    """Run with the test session's Fernet key, or with none (crash-resume off), as a deployment may."""
    if present:
        yield
        return
    with monkeypatch.context() as patch:
        patch.delenv("AIRFLOW__CORE__FERNET_KEY")
        _forget_fernet()
        try:
            yield
        finally:
            patch.undo()
            _forget_fernet()


def _forget_fernet() -> None:
    # Airflow caches the Fernet object per process: forget it so the key (or its absence) is read again.
    for module in ("airflow.sdk.crypto", "airflow.models.crypto"):
        with contextlib.suppress(ImportError, AttributeError):
            importlib.import_module(module).get_fernet.cache_clear()


@pytest.mark.parametrize(
    "fields",
    [
        {"caption": {"title": "x"}},
        {"caption": ["a", "b"]},
        {"caption": b"\xff"},
        {"caption": ""},
        {"tags": ["news", "a,b"]},
        {"long_description": "x" * 3000},
    ],
    ids=["dict", "list", "bytes", "empty", "comma-tag", "too-long"],
)
def test_hook_set_meta_refuses_before_sending(hook, emulator, fields):
    with pytest.raises(CincopaInputError):
        hook.set_meta("AbCdEfGh1234", **fields)
    assert emulator.requests("/v2/asset.set_meta") == []


@pytest.mark.parametrize(
    ("caption", "params"),
    [("{{ params.title }}", {"title": {"en": "Launch"}}), ("{{ 'x' * 3000 }}", {})],
    ids=["dict-after-rendering", "too-long-after-rendering"],
)
def test_templated_metadata_is_checked_before_the_first_byte(emulator, airflow_db, tmp_path, caption, params):
    video = tmp_path / "templated.mp4"
    make_file(video, 3000)
    source = HEADER + (
        "with DAG('meta_templated', schedule=None, start_date=datetime(2026, 1, 1), "
        f"render_template_as_native_obj=True, params={params!r}):\n"
        f"    CincopaUploadFileOperator(task_id='up', source_path={str(video)!r}, caption={caption!r})\n"
    )
    dr = run_dag(DAGS_FOLDER, "meta_templated", source)
    assert dr.state == "failed", task_states(dr)
    assert emulator.requests("/v2/asset.get_upload_url") == [] and emulator.requests("/upload/") == []
    assert emulator.assets() == []


@pytest.mark.parametrize("refusal", ["414", "success-false", "503"])
@pytest.mark.parametrize("with_key", [True, False], ids=["fernet-key", "no-fernet-key"])
def test_metadata_refused_after_the_upload_leaves_one_asset(
    emulator, airflow_db, tmp_path, monkeypatch, capfd, refusal, with_key
):
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_DEFAULT", emulator.connection_json(retries=0))
    video = tmp_path / "once.mp4"
    make_file(video, 3000)
    emulator.faults(**REFUSALS[refusal])
    dag_id = f"meta_refused_{refusal.replace('-', '_')}_{with_key}"
    body = f"""
    CincopaUploadFileOperator(task_id="up", source_path={str(video)!r}, caption="Once",
        reference_id="cms-{dag_id}", if_exists="skip")
    """
    with fernet_key(with_key, monkeypatch):
        dr = run(dag_id, body, retries=2)
    [asset] = emulator.assets()
    assert len(emulator.requests("/upload/")) == 1, "one upload, whatever the retries"
    [ti] = dr.get_task_instances()
    log = "".join(capfd.readouterr())
    if has_task_state_store():  # below 3.3 nothing is sealed, so nothing asks for the key
        assert ("Crash-resume is off for this upload" in log) is not with_key
    if refusal == "503" and with_key and has_task_state_store():
        # Transient, and the retry adopts the finished upload (crash-safe on Airflow 3.3+).
        assert dr.state == "success" and asset["caption"] == "Once"
        return
    assert dr.state == "failed" and ti.try_number == 1, "failed at once: a retry would upload again"
    assert "CincopaMetadataRefusedError" in log and f"Asset {asset['rid']} was made" in log


def test_url_import_metadata_refused_after_the_import_starts_no_second_import(emulator, airflow_db, media_server):
    url = media_server.add("refused.mp4", b"r" * 4000)
    emulator.faults(**REFUSALS["414"])
    dr = run(
        "meta_refused_url",
        f"""
        CincopaUploadFromUrlOperator(task_id="imp", source_url={url!r}, poll_interval=0.1, caption="Once")
        """,
        retries=2,
    )
    assert dr.state == "failed", task_states(dr)
    assert len(emulator.state()["url_imports"]) == 1 and len(emulator.assets()) == 1
    [ti] = dr.get_task_instances()
    assert ti.try_number == 1, "failed at once, naming the asset: below Airflow 3.3 a retry imports again"


def test_wrong_literal_metadata_fails_the_dag_at_parse(airflow_db):
    from tests.support import dag_bag

    path = DAGS_FOLDER / "meta_parse.py"
    body = 'CincopaSetAssetMetaOperator(task_id="m", rid="R1", caption={"a": 1})'
    path.write_text(dag_source("meta_parse", body))
    errors = "".join(dag_bag(path).import_errors.values())
    path.unlink()
    assert "Task 'm': caption must be text (a str), not a dict" in errors
