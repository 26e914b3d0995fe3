"""
The provider in a real Airflow deployment (tests/deployment.py): api-server, scheduler (LocalExecutor),
dag-processor and triggerer as separate processes. Nothing sets task states by hand: processes are
killed and the scheduler's own retries, or a new triggerer, finish the job. Everything the tests
read from Airflow (task instances, XCom, logs, task_state_store) goes through the REST API.

One deployment (with a Fernet key) serves every test but the last ones, which need a deployment
without a Fernet key; the module keeps one deployment running at a time.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.conftest import TOKEN
from tests.deployment import RECORD_PID_SOURCE, Deployment, recording_upload_host
from tests.support import Emulator, airflow_version, has_task_state_store, make_file

#: Per test, the deployment's start included (pyproject's default is 300 s); waits inside are bounded too.
pytestmark = [pytest.mark.deployment, pytest.mark.timeout(480)]

MiB = 1024 * 1024
CHUNK, PARALLEL = MiB, 2
UPLOAD_DAG, URL_DAG, SENSOR_DAG = "cincopa_deploy_upload", "cincopa_deploy_from_url", "cincopa_deploy_url_sensor"
FROM_TRIGGER_DAG, FROM_TRIGGER_FAIL_DAG = "cincopa_deploy_from_trigger", "cincopa_deploy_from_trigger_fail"
#: The operator's task_state_store key (UPLOAD_STATE_KEY in operators/cincopa.py).
STATE_KEY = "cincopa_upload"
SEALED_FORMAT = "cincopa-sealed-v1"

DAGS = {
    f"{UPLOAD_DAG}.py": RECORD_PID_SOURCE
    + f'''
import json
from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.sensors.python import PythonSensor
from airflow.sdk import DAG, task

from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator


def gate_open(dag_run=None, **_):
    return Path(dag_run.conf["gate"]).exists()


with DAG("{UPLOAD_DAG}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    # The test may write the upload's task_state_store while the gate is closed.
    gate = PythonSensor(task_id="gate", python_callable=gate_open, poke_interval=1, timeout=600)
    upload = CincopaUploadFileOperator(
        task_id="upload",
        source_path="{{{{ dag_run.conf['source_path'] }}}}",
        caption="{{{{ dag_run.conf['caption'] }}}}",
        chunk_size={CHUNK},
        max_parallel_chunks={PARALLEL},
        retries=1,
        retry_delay=timedelta(seconds=2),
        pre_execute=record_pid,
    )

    @task
    def report(rid, dag_run=None):
        # What a downstream task really receives: a str, not a JSON-encoded str.
        Path(dag_run.conf["report"]).write_text(json.dumps({{"type": type(rid).__name__, "value": rid}}))

    gate >> upload
    report(upload.output)
''',
    f"{URL_DAG}.py": RECORD_PID_SOURCE
    + f'''
import json
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator
from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor


@task
def report(rid, dag_run=None):
    # What a downstream task really receives: a str, not a JSON-encoded str.
    Path(dag_run.conf["report"]).write_text(json.dumps({{"type": type(rid).__name__, "value": rid}}))


with DAG("{URL_DAG}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    imported = CincopaUploadFromUrlOperator(
        task_id="import_url",
        source_url="{{{{ dag_run.conf['source_url'] }}}}",
        deferrable=True,
        poll_interval=1,
        timeout=600,
    )
    report(imported.output)

with DAG("{SENSOR_DAG}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    started = CincopaUploadFromUrlOperator(
        task_id="start", source_url="{{{{ dag_run.conf['source_url'] }}}}", wait_for_completion=False
    )
    waited = CincopaUploadStatusSensor(
        task_id="import_url", status_id=started.output, deferrable=True, poke_interval=1, timeout=600
    )
    report(waited.output)
''',
    f"{FROM_TRIGGER_DAG}.py": RECORD_PID_SOURCE
    + f'''
import json
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task

from airflow_provider_cincopa.operators.cincopa import CincopaUploadFromUrlOperator
from airflow_provider_cincopa.sensors.cincopa import CincopaUploadStatusSensor

PULL = "ti.xcom_pull(task_ids='start'"


@task
def report(wait, wait_template, wait_fallback, dag_run=None):
    # What downstream tasks really receive from each sensor: a str, not a JSON-encoded str.
    got = {{"wait": wait, "wait_template": wait_template, "wait_fallback": wait_fallback}}
    Path(dag_run.conf["report"]).write_text(
        json.dumps({{k: {{"type": type(v).__name__, "value": v}} for k, v in got.items()}})
    )


with DAG("{FROM_TRIGGER_DAG}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    started = CincopaUploadFromUrlOperator(
        task_id="start", source_url="{{{{ dag_run.conf['source_url'] }}}}", wait_for_completion=False
    )
    common = dict(start_from_trigger=True, poke_interval=1, timeout=600, pre_execute=record_pid)
    # A DAG author's natural spelling: the XComArg of the task that started the import.
    wait = CincopaUploadStatusSensor(task_id="wait", status_id=started.output, **common)
    # The same pull as a template the triggerer can answer.
    wait_template = CincopaUploadStatusSensor(
        task_id="wait_template", status_id="{{{{ " + PULL + ", map_indexes=-1) }}}}", **common
    )
    # A pull the triggerer cannot answer (GetXComSequenceSlice): starts on a worker instead.
    wait_fallback = CincopaUploadStatusSensor(task_id="wait_fallback", status_id="{{{{ " + PULL + ") }}}}", **common)
    started >> [wait_template, wait_fallback]
    report(wait.output, wait_template.output, wait_fallback.output)

with DAG("{FROM_TRIGGER_FAIL_DAG}", schedule=None, start_date=datetime(2026, 1, 1), catchup=False):
    started = CincopaUploadFromUrlOperator(
        task_id="start", source_url="{{{{ dag_run.conf['source_url'] }}}}", wait_for_completion=False
    )
    common = dict(start_from_trigger=True, poke_interval=1, timeout=600, pre_execute=record_pid)
    CincopaUploadStatusSensor(task_id="wait", status_id=started.output, **common)
    # With retries left, a failed import is handed to a worker, which fails it without a retry.
    CincopaUploadStatusSensor(task_id="wait_retries", status_id=started.output, retries=2, **common)
    CincopaUploadStatusSensor(task_id="wait_soft", status_id=started.output, soft_fail=True, **common)
''',
}


# -- the deployments ---------------------------------------------------------------------------


class Deployments:
    """One deployment at a time for the module: asking for another kind stops the running one."""

    def __init__(self, base: Path, connection: str) -> None:
        self.base, self.connection = base, connection
        self.current: tuple[bool, Deployment] | None = None
        self.stopped: list[Deployment] = []
        self.failed: dict[bool, str] = {}  # a deployment that did not start is not tried again

    def get(self, *, fernet: bool) -> Deployment:
        if self.current is not None and self.current[0] == fernet:
            return self.current[1]
        if fernet in self.failed:
            pytest.fail(f"this deployment did not start earlier in the module:\n{self.failed[fernet]}")
        self.stop_current()
        home = self.base / f"{'fernet' if fernet else 'no-fernet'}-{uuid.uuid4().hex[:6]}"
        home.mkdir()
        deployment = Deployment(
            home,
            dags=DAGS,
            connections={"cincopa_default": self.connection},
            fernet_key=None if fernet else "",
        )
        try:
            self.current = (fernet, deployment.__enter__())
        except Exception as exc:
            self.stopped.append(deployment)
            self.failed[fernet] = str(exc)
            raise
        return deployment

    def stop_current(self) -> None:
        if self.current is not None:
            deployment = self.current[1]
            self.current = None
            deployment.stop()
            self.stopped.append(deployment)

    def close(self) -> None:
        self.stop_current()
        strays = {str(d.home): [p.pid for p in d.strays()] for d in self.stopped}
        assert not any(strays.values()), f"processes left behind: {strays}"
        leaks = [str(p) for d in self.stopped for p in d.files_containing(TOKEN)]
        assert not leaks, f"the api_token leaked into {leaks}"


@pytest.fixture(scope="module")
def deployments(emulator_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployments]:
    """
    The module's deployments; at the end, the database, task logs and process logs of each are
    searched for the api_token, and no process they started may be left.
    """
    emu = Emulator(emulator_server.base_url, TOKEN)
    manager = Deployments(tmp_path_factory.mktemp("deployments"), emu.connection_json())
    try:
        yield manager
    finally:
        manager.close()


@pytest.fixture
def deployment(deployments: Deployments, emulator: Emulator) -> Deployment:
    """The deployment with a Fernet key, and a clean emulator."""
    return deployments.get(fernet=True)


@pytest.fixture
def deployment_without_fernet(deployments: Deployments, emulator: Emulator) -> Deployment:
    """The same deployment started without a Fernet key (``AIRFLOW__CORE__FERNET_KEY=""``)."""
    return deployments.get(fernet=False)


# -- helpers -----------------------------------------------------------------------------------


class Upload:
    """One run of the upload DAG: its files and conf."""

    def __init__(self, folder: Path, size: int = 4 * MiB, same_file_as: Upload | None = None) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder, self.size = folder, size
        if same_file_as is None:
            self.source = folder / "clip.mp4"
            self.digest = make_file(self.source, size, seed=int.from_bytes(os.urandom(4), "big"))
        else:
            self.source, self.digest = same_file_as.source, same_file_as.digest
        self.gate = folder / "gate"
        self.report = folder / "report.json"
        self.caption = f"Caption {uuid.uuid4().hex[:8]}"

    def conf(self) -> dict[str, str]:
        return {
            "source_path": str(self.source),
            "caption": self.caption,
            "gate": str(self.gate),
            "report": str(self.report),
        }

    def open_gate(self) -> None:
        self.gate.touch()

    def received(self) -> Any:
        return json.loads(self.report.read_text())


def set_faults(emulator: Emulator, **knobs: Any) -> None:
    """``emulator.faults``, with a clear failure when the emulator does not know a knob yet."""
    try:
        emulator.faults(**knobs)
    except httpx.HTTPStatusError as exc:
        pytest.fail(f"the emulator refused fault knobs {knobs}: {exc.response.text}")


def acknowledged(emulator: Emulator) -> int:
    uploads = emulator.state()["uploads"]
    return sum(e - s for u in uploads for s, e in u["received"])


def upload_bytes_sent(emulator: Emulator) -> int:
    return sum(r["body_length"] for r in emulator.requests("/upload/"))


def sigkill(pid: int) -> None:
    """SIGKILL the task runner and wait until it is gone (it is its supervisor's child, not ours)."""
    process = psutil.Process(pid)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def assert_uploaded(
    deployment: Deployment, emulator: Emulator, run_id: str, upload: Upload, assets_before: int = 0
) -> dict[str, Any]:
    """The run succeeded with exactly one new, byte-identical asset, its rid in XCom and downstream, caption set."""
    run = deployment.wait_for_run(UPLOAD_DAG, run_id)
    states = {t: ti["state"] for t, ti in deployment.tis(UPLOAD_DAG, run_id).items()}
    assert run["state"] == "success", f"run {run['state']}: {states}"
    assets = emulator.assets()
    assert len(assets) == assets_before + 1, f"expected exactly one new asset, got {assets}"
    asset = assets[-1]
    assert asset["sha256"] == upload.digest and asset["size"] == upload.size
    rid = deployment.xcom(UPLOAD_DAG, run_id, "upload")
    assert rid == asset["rid"], f"XCom (REST) holds {rid!r}, the asset is {asset['rid']!r}"
    assert upload.received() == {"type": "str", "value": asset["rid"]}, "downstream got something else"
    assert asset["caption"] == upload.caption
    return asset


def warned_about_saved_state(deployment: Deployment, run_id: str, try_number: int = 1) -> list[str]:
    """Warnings in the upload try's log (REST API) that say a saved upload state was not used."""
    words = ("discard", "ignor", "not trust", "untrusted", "tamper", "invalid", "new upload", "start over")
    found = []
    for line in deployment.task_log(UPLOAD_DAG, run_id, "upload", try_number):
        event = str(line.get("event", "")).lower()
        if line.get("level") in ("warning", "error") and "state" in event and any(w in event for w in words):
            found.append(line["event"])
    return found


def log_events(deployment: Deployment, run_id: str, try_number: int = 1) -> str:
    lines = deployment.task_log(UPLOAD_DAG, run_id, "upload", try_number)
    return "\n".join(f"{line.get('level', '?')}: {line.get('event')}" for line in lines)


#: Resume, the recovery of a lost rid and the sealed state live in task_state_store (Airflow 3.3+).
needs_task_state_store = pytest.mark.skipif(
    not has_task_state_store(), reason="task_state_store and its REST endpoints exist on Airflow 3.3+ only"
)


# -- the harness itself -----------------------------------------------------------------------


def test_deployment_processes_are_the_expected_ones(deployment):
    """The harness itself: four components alive, each in a process group of its own, on our port."""
    assert set(deployment.procs) >= {"api-server", "scheduler", "dag-processor", "triggerer"}
    for name, proc in deployment.procs.items():
        assert proc.poll() is None, f"{name} is not running"
        assert os.getpgid(proc.pid) == proc.pid
    assert deployment.port != 8793
    health = deployment.api("GET", "/api/v2/monitor/health")
    assert health["scheduler"]["status"] == "healthy", health


# -- a. the task runner SIGKILLed mid-upload ---------------------------------------------------


@pytest.mark.parametrize("victim", ["task-runner", "supervisor-too"])
def test_task_runner_sigkilled_mid_upload_is_retried_by_the_scheduler(deployment, emulator, tmp_path, victim):
    """
    ``task-runner``: only the process running the task dies; its supervisor (in the LocalExecutor
    worker) reports the try failed and the scheduler retries it. ``supervisor-too``: the
    supervisor dies with it, as on a lost worker machine: nothing reports, and the scheduler
    finds the try by its missed heartbeats (``[scheduler] task_instance_heartbeat_timeout``).
    """
    if victim == "task-runner" and airflow_version() < (3, 1):
        pytest.skip("Airflow 3.0 fails a task killed by a signal without retrying it (apache/airflow#55753)")
    upload = Upload(tmp_path, size=8 * MiB)
    upload.open_gate()
    set_faults(emulator, bandwidth=512 * 1024)  # per request: 2 chunks in flight, ~8 s for the file
    run_id = deployment.trigger(UPLOAD_DAG, upload.conf())
    pid = deployment.task_pid(UPLOAD_DAG, run_id, "upload", try_number=1)
    supervisor = psutil.Process(pid).parent()
    assert supervisor is not None and "LocalExecutor" in " ".join(supervisor.cmdline())
    deployment.wait(lambda: acknowledged(emulator) >= 2 * MiB, 120, "2 MiB acknowledged", interval=0.1)
    assert psutil.pid_exists(pid) and acknowledged(emulator) < upload.size, "the kill must land mid-upload"
    if victim == "supervisor-too":
        supervisor.send_signal(signal.SIGKILL)
    sigkill(pid)
    sent_by_first_try = upload_bytes_sent(emulator)
    assert emulator.assets() == []
    emulator.clear_faults()

    assert_uploaded(deployment, emulator, run_id, upload)
    ti = deployment.ti(UPLOAD_DAG, run_id, "upload")
    assert ti["try_number"] == 2, "the scheduler retried the killed try once"
    assert deployment.recorded_pid(UPLOAD_DAG, run_id, "upload", 2) not in (None, pid), "a new task runner"
    assert sent_by_first_try < upload.size
    if not has_task_state_store():
        # Airflow < 3.3: nothing to resume from, so the retry sends the whole file again (documented).
        assert upload_bytes_sent(emulator) - sent_by_first_try >= upload.size
        return
    resent = upload_bytes_sent(emulator) - upload.size
    assert resent <= PARALLEL * CHUNK, f"{resent} bytes sent twice: only the chunks in flight at the kill may be"


# -- b. the task runner SIGKILLed just after the completing chunk ------------------------------


@needs_task_state_store
@pytest.mark.parametrize("completed_answer", ["same", "done"])
def test_task_runner_sigkilled_after_the_completing_chunk(deployment, emulator, tmp_path, completed_answer):
    """
    Cincopa created the asset but the worker never saw the rid: the completing chunk's answer is
    held (``stall_final``) and the runner is killed meanwhile. A chunk sent to the completed upload
    is answered with the rid again (``same``) or with a bare ``chunk done.`` (``done``).
    """
    upload = Upload(tmp_path, size=4 * MiB)
    upload.open_gate()
    set_faults(emulator, stall_final=30, completed_answer=completed_answer)
    run_id = deployment.trigger(UPLOAD_DAG, upload.conf())
    pid = deployment.task_pid(UPLOAD_DAG, run_id, "upload", try_number=1)
    deployment.wait(emulator.assets, 120, "the asset to be created", interval=0.05)
    assert psutil.pid_exists(pid), "the runner must still be waiting for the completing chunk's answer"
    sigkill(pid)
    set_faults(emulator, completed_answer=completed_answer)  # no stall for the retry

    assert_uploaded(deployment, emulator, run_id, upload)
    assert deployment.ti(UPLOAD_DAG, run_id, "upload")["try_number"] == 2


# -- c. the triggerer SIGKILLed during a deferral ----------------------------------------------


@pytest.mark.parametrize("dag_id", [URL_DAG, SENSOR_DAG], ids=["operator", "sensor"])
def test_triggerer_sigkilled_during_deferral_a_new_one_finishes(deployment, emulator, media_server, tmp_path, dag_id):
    """
    ``CincopaUploadFromUrlOperator(deferrable=True)``, or ``CincopaUploadStatusSensor(deferrable=True)``
    after a non-waiting import (task ``import_url`` in both DAGs), deferred; the triggerer running
    its trigger is SIGKILLed and a new one started: the task completes with the import's rid.
    """
    body = os.urandom(300_000)
    source_url = media_server.add(f"deferred-{uuid.uuid4().hex[:6]}.mp4", body)
    set_faults(emulator, import_rate=10_000)  # ~30 s: still importing when the triggerer dies
    report = tmp_path / "report.json"
    run_id = deployment.trigger(dag_id, {"source_url": source_url, "report": str(report)})
    deployment.wait_for_ti(dag_id, run_id, "import_url", {"deferred"}, timeout=120)

    def polls() -> int:
        return len([r for r in emulator.requests("/v2/") if "upload_from_url_get_status" in r["path"]])

    # Status calls made after the task deferred come from the triggerer running the trigger.
    polls_by_worker = polls()
    deployment.wait(lambda: polls() >= polls_by_worker + 2, 90, "the triggerer to poll the import")
    [running] = emulator.state()["url_imports"]
    assert running["status"] == "inprogress", "the kill must land while the import runs"
    deployment.kill_component("triggerer", signal.SIGKILL)
    polls_at_kill = polls()
    assert deployment.ti(dag_id, run_id, "import_url")["state"] == "deferred"

    deployment.start_component("triggerer")
    run = deployment.wait_for_run(dag_id, run_id, timeout=240)
    assert run["state"] == "success", f"run {run['state']}: {deployment.tis(dag_id, run_id)}"
    assert polls() > polls_at_kill, "the new triggerer polled the import"
    starts = [r for r in emulator.requests("/v2/") if r["path"].endswith("/asset.upload_from_url.json")]
    assert len(starts) == 1, f"exactly one import must be started, got {len(starts)}"
    [asset] = emulator.assets()
    assert asset["size"] == len(body)
    assert deployment.xcom(dag_id, run_id, "import_url") == asset["rid"]
    assert json.loads(report.read_text()) == {"type": "str", "value": asset["rid"]}
    assert deployment.ti(dag_id, run_id, "import_url")["try_number"] == 1, "resumed, not retried"


# -- d. saved upload state edited through the REST API is not trusted --------------------------


def _plain_state(rogue_url: str, upload: Upload) -> dict[str, Any]:
    return {
        "upload_url": f"{rogue_url}/upload/post.jpg?d=x&hash=y",
        "unique_id": "x",
        "filename": upload.source.name,
        "size": upload.size,
        "done": [],
        "rid": None,
        "id": None,
        "source_version": None,
    }


def _bit_flipped_token(key: str, payload: dict[str, Any]) -> str:
    """A Fernet token made with the deployment's own key, then one bit flipped in its ciphertext."""
    from cryptography.fernet import Fernet

    raw = bytearray(base64.urlsafe_b64decode(Fernet(key.encode()).encrypt(json.dumps(payload).encode())))
    raw[len(raw) // 2] ^= 0x01
    return base64.urlsafe_b64encode(bytes(raw)).decode()


@needs_task_state_store
@pytest.mark.parametrize("planted", ["plain", "sealed-garbage", "sealed-from-another-task"])
def test_saved_upload_state_written_through_the_rest_api_is_not_trusted(deployment, emulator, tmp_path, planted):
    upload = Upload(tmp_path / "victim", size=3 * MiB)
    assets_before = 0
    other_rid = None
    with recording_upload_host() as rogue:
        if planted == "plain":
            value: Any = _plain_state(rogue.url, upload)
        elif planted == "sealed-garbage":
            token = _bit_flipped_token(deployment.fernet_key, _plain_state(rogue.url, upload))
            value = {"format": SEALED_FORMAT, "sealed": token}
        else:
            # A finished upload of the very same file by another task instance (another run): its
            # state is genuine, sealed with the same key, and every file check would pass.
            donor = Upload(tmp_path / "donor", size=3 * MiB, same_file_as=upload)
            donor.open_gate()
            donor_run = deployment.trigger(UPLOAD_DAG, donor.conf())
            other_rid = assert_uploaded(deployment, emulator, donor_run, donor)["rid"]
            value = deployment.get_task_state(UPLOAD_DAG, donor_run, "upload", STATE_KEY)
            assert value is not None, "the finished donor task left no upload state to copy"
            assets_before = 1

        run_id = deployment.trigger(UPLOAD_DAG, upload.conf())
        deployment.set_task_state(UPLOAD_DAG, run_id, "upload", STATE_KEY, value)
        assert deployment.get_task_state(UPLOAD_DAG, run_id, "upload", STATE_KEY) == value
        assert deployment.ti(UPLOAD_DAG, run_id, "upload")["state"] in (None, "scheduled", "queued")
        upload.open_gate()
        run = deployment.wait_for_run(UPLOAD_DAG, run_id)
        events = log_events(deployment, run_id)
        assert rogue.bytes_received == 0, f"{rogue.bytes_received} bytes went to the planted upload URL"

    assert run["state"] == "success", f"run {run['state']}; upload log:\n{events}"
    rid = deployment.xcom(UPLOAD_DAG, run_id, "upload")
    assert rid != other_rid, "the task returned the other task's asset instead of uploading its own file"
    asset = assert_uploaded(deployment, emulator, run_id, upload, assets_before=assets_before)
    assert asset["rid"] != other_rid
    assert warned_about_saved_state(deployment, run_id), f"no warning that the saved state was discarded:\n{events}"


# -- e. a deployment without a Fernet key ------------------------------------------------------


@needs_task_state_store
def test_without_fernet_key_nothing_is_saved_in_task_state_store(deployment_without_fernet, emulator, tmp_path):
    deployment = deployment_without_fernet
    upload = Upload(tmp_path, size=6 * MiB)
    upload.open_gate()
    set_faults(emulator, bandwidth=512 * 1024)
    run_id = deployment.trigger(UPLOAD_DAG, upload.conf())
    deployment.task_pid(UPLOAD_DAG, run_id, "upload", try_number=1)
    deployment.wait(lambda: acknowledged(emulator) >= 2 * MiB, 120, "2 MiB acknowledged", interval=0.1)
    # Mid-upload: what a kill now would leave for a retry (and for anyone reading the store).
    mid_upload = deployment.task_state(UPLOAD_DAG, run_id, "upload")
    emulator.clear_faults()
    assert_uploaded(deployment, emulator, run_id, upload)
    after = deployment.task_state(UPLOAD_DAG, run_id, "upload")
    assert STATE_KEY not in mid_upload, f"saved without a Fernet key (mid-upload): {mid_upload}"
    assert STATE_KEY not in after, f"saved without a Fernet key (after success): {after}"


@needs_task_state_store
def test_without_fernet_key_a_planted_plain_state_is_ignored(deployment_without_fernet, emulator, tmp_path):
    deployment = deployment_without_fernet
    upload = Upload(tmp_path, size=3 * MiB)
    with recording_upload_host() as rogue:
        run_id = deployment.trigger(UPLOAD_DAG, upload.conf())
        deployment.set_task_state(UPLOAD_DAG, run_id, "upload", STATE_KEY, _plain_state(rogue.url, upload))
        upload.open_gate()
        run = deployment.wait_for_run(UPLOAD_DAG, run_id)
        events = log_events(deployment, run_id)
        assert rogue.bytes_received == 0, (
            f"{rogue.bytes_received} bytes of {upload.size} went to the planted upload URL; upload log:\n{events}"
        )
    assert run["state"] == "success", f"run {run['state']}; upload log:\n{events}"
    assert_uploaded(deployment, emulator, run_id, upload)


# -- f. start_from_trigger: waits that start no worker ----------------------------------------


needs_start_from_trigger = pytest.mark.skipif(
    airflow_version() < (3, 3), reason="start_from_trigger renders templates in the triggerer from Airflow 3.3"
)


def started_no_worker(deployment: Deployment, dag_id: str, run_id: str, task_id: str) -> bool:
    """
    True if no worker ever ran this task instance: ``record_pid`` (its ``pre_execute``) never wrote
    a PID, the execution API never saw a task runner (no ``pid``, no ``hostname``) and the scheduler
    never queued it for the executor (no ``queued_when``).
    """
    ti = deployment.ti(dag_id, run_id, task_id)
    pid_file = deployment.recorded_pid(dag_id, run_id, task_id, ti["try_number"])
    return pid_file is None and ti["pid"] is None and not ti["hostname"] and ti["queued_when"] is None


def log_text(deployment: Deployment, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
    return "\n".join(str(line.get("event")) for line in deployment.task_log(dag_id, run_id, task_id, try_number))


@needs_start_from_trigger
def test_start_from_trigger_waits_without_a_worker(deployment, emulator, media_server, tmp_path):
    """
    ``start_from_trigger=True`` with ``status_id=start.output`` and with the same pull written as a
    template: the scheduler defers them, the triggerer renders the status_id and ends the task with
    the rid, no worker starts, and the downstream task receives the exact rid. A pull the triggerer
    could not answer starts on a worker instead (the control: the worker signs are really seen).
    """
    source_url = media_server.add(f"from-trigger-{uuid.uuid4().hex[:6]}.mp4", os.urandom(200_000))
    set_faults(emulator, import_rate=50_000)  # ~4 s: the triggers poll a few times
    report = tmp_path / "report.json"
    run_id = deployment.trigger(FROM_TRIGGER_DAG, {"source_url": source_url, "report": str(report)})
    run = deployment.wait_for_run(FROM_TRIGGER_DAG, run_id, timeout=240)
    tis = deployment.tis(FROM_TRIGGER_DAG, run_id)
    assert run["state"] == "success", {t: ti["state"] for t, ti in tis.items()}
    [asset] = emulator.assets()

    for task_id in ("wait", "wait_template"):
        ti = tis[task_id]
        assert started_no_worker(deployment, FROM_TRIGGER_DAG, run_id, task_id), f"a worker ran {task_id}: {ti}"
        assert tis[task_id]["try_number"] == 1
        assert deployment.xcom(FROM_TRIGGER_DAG, run_id, task_id) == asset["rid"]
        assert "the task ends in the triggerer" in log_text(deployment, FROM_TRIGGER_DAG, run_id, task_id)
    # The control: the same checks see the worker that ran the sensor which could not start there.
    assert not started_no_worker(deployment, FROM_TRIGGER_DAG, run_id, "wait_fallback")
    assert deployment.recorded_pid(FROM_TRIGGER_DAG, run_id, "wait_fallback", 1) is not None
    assert "GetXComSequenceSlice" in log_text(deployment, FROM_TRIGGER_DAG, run_id, "wait_fallback")
    assert deployment.xcom(FROM_TRIGGER_DAG, run_id, "wait_fallback") == asset["rid"]

    received = json.loads(report.read_text())
    expected = {"type": "str", "value": asset["rid"]}
    assert received == {"wait": expected, "wait_template": expected, "wait_fallback": expected}


@needs_start_from_trigger
def test_start_from_trigger_failed_import_fails_the_task_with_cincopas_message(deployment, emulator, media_server):
    """
    The import fails: the sensor without retries is failed by the triggerer (``TaskFailedEvent``),
    no worker started, Cincopa's message in its log; with ``soft_fail`` it is skipped there
    (``TaskSkippedEvent``). With retries left, the trigger hands the
    event to a worker, which fails the task without spending a retry, as a worker-run sensor does.
    """
    missing = f"{media_server.url}/no-such-{uuid.uuid4().hex}.mp4"
    run_id = deployment.trigger(FROM_TRIGGER_FAIL_DAG, {"source_url": missing})
    deployment.wait_for_run(FROM_TRIGGER_FAIL_DAG, run_id, timeout=240)
    tis = deployment.tis(FROM_TRIGGER_FAIL_DAG, run_id)
    [record] = emulator.state()["url_imports"]
    assert record["status"] == "failed" and record["message"], record

    assert tis["wait"]["state"] == "failed" and tis["wait"]["try_number"] == 1, tis["wait"]
    assert started_no_worker(deployment, FROM_TRIGGER_FAIL_DAG, run_id, "wait"), tis["wait"]
    assert record["message"] in log_text(deployment, FROM_TRIGGER_FAIL_DAG, run_id, "wait")

    assert tis["wait_soft"]["state"] == "skipped", tis["wait_soft"]
    assert started_no_worker(deployment, FROM_TRIGGER_FAIL_DAG, run_id, "wait_soft"), tis["wait_soft"]

    retried = tis["wait_retries"]
    assert retried["state"] == "failed" and retried["try_number"] == 1, f"retries spent on a failed import: {retried}"
    assert record["message"] in log_text(deployment, FROM_TRIGGER_FAIL_DAG, run_id, "wait_retries")


@needs_start_from_trigger
def test_start_from_trigger_triggerer_sigkilled_a_new_one_renders_and_finishes(
    deployment, emulator, media_server, tmp_path
):
    """
    The triggerer running started-from-trigger sensors is SIGKILLed mid-wait: a new one takes the
    triggers over, renders ``status_id`` again and ends the tasks, still without a worker.
    """
    source_url = media_server.add(f"from-trigger-kill-{uuid.uuid4().hex[:6]}.mp4", os.urandom(300_000))
    set_faults(emulator, import_rate=10_000)  # ~30 s: still importing when the triggerer dies
    report = tmp_path / "report.json"
    run_id = deployment.trigger(FROM_TRIGGER_DAG, {"source_url": source_url, "report": str(report)})
    deployment.wait_for_ti(FROM_TRIGGER_DAG, run_id, "wait", {"deferred"}, timeout=120)

    def polls() -> int:
        return len([r for r in emulator.requests("/v2/") if "upload_from_url_get_status" in r["path"]])

    deployment.wait(lambda: polls() >= 2, 90, "the triggerer to poll the import")
    [running] = emulator.state()["url_imports"]
    assert running["status"] == "inprogress", "the kill must land while the import runs"
    deployment.kill_component("triggerer", signal.SIGKILL)
    assert deployment.ti(FROM_TRIGGER_DAG, run_id, "wait")["state"] == "deferred"

    deployment.start_component("triggerer")
    run = deployment.wait_for_run(FROM_TRIGGER_DAG, run_id, timeout=240)
    assert run["state"] == "success", {t: ti["state"] for t, ti in deployment.tis(FROM_TRIGGER_DAG, run_id).items()}
    [asset] = emulator.assets()
    for task_id in ("wait", "wait_template"):
        assert started_no_worker(deployment, FROM_TRIGGER_DAG, run_id, task_id), task_id
        assert deployment.ti(FROM_TRIGGER_DAG, run_id, task_id)["try_number"] == 1
    expected = {"type": "str", "value": asset["rid"]}
    assert json.loads(report.read_text()) == {"wait": expected, "wait_template": expected, "wait_fallback": expected}
