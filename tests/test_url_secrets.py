"""
A password and a signature in ``source_url`` and ``hook_url`` reach no task log, XCom, rendered
field or row of the metadata database; names with control characters cannot forge log lines.
Run by real Airflow (``dag.test()``) against the emulator.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.conftest import AIRFLOW_HOME
from tests.support import make_file, task_states, xcom
from tests.test_operators import run

pytestmark = pytest.mark.emulator


def found_in_airflow_home(*canaries: str) -> dict[str, list[str]]:
    """Each canary's files under the Airflow home: the metadata database, task logs, the rest."""
    files = [p for p in Path(AIRFLOW_HOME).rglob("*") if p.is_file() and "dags" not in p.parts]
    hits: dict[str, list[str]] = {}
    for path in files:
        data = path.read_bytes()
        for canary in canaries:
            if canary.encode() in data:
                hits.setdefault(canary, []).append(str(path))
    return hits


def rendered_fields(dag_run, task_id: str) -> dict:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag_run.dag_id, task_id=task_id).one()
        return dict(row.rendered_fields)


def test_url_credentials_reach_no_log_xcom_rendered_field_or_database(
    emulator, airflow_db, media_server, monkeypatch, capfd
):
    password, signature = f"PWCANARY{secrets.token_hex(6)}", f"SIGCANARY{secrets.token_hex(6)}"
    hook_password, hook_signature = f"HOOKPW{secrets.token_hex(6)}", f"HOOKSIG{secrets.token_hex(6)}"
    media = media_server.add("signed.mp4", b"s" * 4000)
    # Handed in through Variables (environment), as a deployment would: the DAG file holds no secret.
    signed = media.replace("http://", f"http://alice:{password}@") + f"?X-Amz-Signature={signature}&X-Amz-Date=1"
    monkeypatch.setenv("AIRFLOW_VAR_MEDIA_URL", signed)
    monkeypatch.setenv("AIRFLOW_VAR_HOOK_URL", f"https://bob:{hook_password}@hooks.example/in?sig={hook_signature}")
    old_password = f"OLDHOOKPW{secrets.token_hex(6)}"
    monkeypatch.setenv("AIRFLOW_VAR_OLD_HOOK_URL", f"https://carol:{old_password}@hooks.example/old")
    dr = run(
        "url_secrets",
        """
        CincopaUploadFromUrlOperator(task_id="imp", source_url="{{ var.value.media_url }}", poll_interval=0.1)
        hook = CincopaSetWebhookOperator(task_id="hook", hook_url="{{ var.value.hook_url }}", security_key="k3y-value")
        hook >> CincopaDeleteWebhookOperator(task_id="unhook", hook_url="{{ var.value.old_hook_url }}", missing_ok=True)
        """,
    )
    assert dr.state == "success", task_states(dr)
    [record] = emulator.state()["url_imports"]
    assert record["input"] == signed, "Cincopa still gets the URL it needs, credentials and all"
    assert xcom(dr, "hook") == "https://bob:***@hooks.example/in?sig=***"
    assert rendered_fields(dr, "hook")["hook_url"] == "https://bob:***@hooks.example/in?sig=***"
    assert password not in rendered_fields(dr, "imp")["source_url"]
    assert rendered_fields(dr, "unhook")["hook_url"] == "https://carol:***@hooks.example/old"
    assert xcom(dr, "unhook") is False, "there was no such webhook"
    canaries = (password, signature, hook_password, hook_signature, old_password)
    log = "".join(capfd.readouterr())
    assert [c for c in canaries if c in log] == [], "a credential reached the task log"
    assert found_in_airflow_home(*canaries) == {}, "a credential reached the database or a log file"


def test_names_with_control_characters_cannot_forge_log_lines(emulator, airflow_db, tmp_path, capfd):
    video = tmp_path / "plain.mp4"
    make_file(video, 1500)
    forged = "FORGED 2026-01-01T00:00:00Z [error] injected"
    dr = run(
        "names_in_logs",
        f"""
        CincopaUploadFileOperator(task_id="up", source_path={str(video)!r},
            filename={"clip.mp4" + chr(10) + forged + chr(27) + "[2J"!r})
        """,
    )
    assert dr.state == "success", task_states(dr)
    log = "".join(capfd.readouterr())
    assert "Uploaded clip.mp4\\n" + forged + "\\x1b[2J (1500 bytes) as Cincopa asset" in log
    # The operator's line, that is (the upload engine's own progress lines are its owner's to escape).
    forged_lines = [line for line in log.splitlines() if line.startswith(forged) and "as Cincopa asset" in line]
    assert forged_lines == [], "a file name began a log line of its own"
