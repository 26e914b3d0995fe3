"""
``s3://`` sources against a local S3 server: moto's ``ThreadedMotoServer`` on loopback, read by the
real s3fs over real HTTP, with credentials from an Airflow connection of type ``aws`` whose
``endpoint_url`` points at it (``source_conn_id``), uploaded to the emulator over real HTTP.

- streaming: every ranged GET is small (REMOTE_BLOCK + REMOTE_READ_AHEAD) and pinned to the
  object's ETag with ``If-Match``, and the emulator's asset has the object's bytes;
- a task process SIGKILLed mid-upload, retried by Airflow's task runner, finishes the same asset;
- a replaced object (its ETag changed) never mixes two versions: mid-try, the try fails and says
  so; between tries, the retry uploads the new version from its first byte;
- a missing bucket, a missing key and refused credentials fail before anything is sent, naming
  the bucket and the connection;
- without the ``s3`` extra (s3fs absent), the error names the extra to install.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaSourceChangedError
from airflow_provider_cincopa.hooks.sources import REMOTE_BLOCK, REMOTE_READ_AHEAD
from tests.conftest import DAGS_FOLDER
from tests.support import DAGBAG_IMPORT, has_task_state_store, rerun_task

MiB = 1024 * 1024
BUCKET = "media"
CONN_ID = "s3_media"
#: moto's own default account: access keys it made itself belong to it.
REGION = "us-east-1"


class S3Server:
    """moto's S3 on loopback, and a boto3 client on it to arrange buckets and objects."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.client = self.client_for("testing", "testing")

    def client_for(self, key: str, secret: str, service: str = "s3") -> Any:
        import boto3

        return boto3.client(
            service, endpoint_url=self.url, aws_access_key_id=key, aws_secret_access_key=secret, region_name=REGION
        )

    def connection_json(self, key: str = "testing", secret: str = "testing") -> str:
        """An Airflow ``aws`` connection to this server, in the JSON form of ``AIRFLOW_CONN_...``."""
        extra = {"endpoint_url": self.url, "region_name": REGION}
        return json.dumps({"conn_type": "aws", "login": key, "password": secret, "extra": extra})

    def put(self, key: str, size: int, seed: int) -> tuple[str, str]:
        """Store ``size`` pseudo-random bytes at ``s3://media/key``; return (sha256, ETag)."""
        body = _pattern(size, seed)
        answer = self.client.put_object(Bucket=BUCKET, Key=key, Body=body)
        return hashlib.sha256(body).hexdigest(), answer["ETag"]

    def require_auth(self, on: bool) -> None:
        """moto checks signatures and IAM policies only when told to (its ``reset-auth`` call)."""
        import httpx

        httpx.post(f"{self.url}/moto-api/reset-auth", content=b"0" if on else b"inf", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.server.stop()


def _pattern(size: int, seed: int) -> bytes:
    # Every MiB differs from the others and from another seed's: misplaced or mixed bytes show.
    block = hashlib.sha256(str(seed).encode()).digest() * (MiB // 32)
    return b"".join(i.to_bytes(8, "big") + block[8:] for i in range(-(-size // MiB)))[:size]


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    # werkzeug logs every request at INFO: a failure report, not the test log, is where to look.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = S3Server()
    server.client.create_bucket(Bucket=BUCKET)
    yield server
    server.stop()


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The S3 server, and connection ``s3_media`` to it (also seen by subprocesses)."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", s3_server.connection_json())
    return s3_server


def one_asset(emulator, digest: str, size: int) -> dict:
    [asset] = emulator.assets()
    assert asset["sha256"] == digest and asset["size"] == size
    return asset


def nothing_sent(emulator) -> bool:
    return emulator.requests("/v2/asset.get_upload_url") == [] and emulator.requests("/upload/") == []


# -- streaming ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_s3_object_streams_in_small_ranged_reads_of_one_version(hook, emulator, s3):
    from airflow.sdk.io.store import attach

    size = 10 * MiB + 12345
    digest, etag = s3.put("stream.mp4", size, seed=1)
    # Watch the requests s3fs sends through the very filesystem the upload reads with.
    fs = attach("s3", CONN_ID).fs
    fs.connect()
    gets: list[dict[str, str]] = []
    fs.s3.meta.events.register("before-send.s3.GetObject", lambda request, **_: gets.append(dict(request.headers)))

    result = hook.upload_file(
        f"s3://{BUCKET}/stream.mp4", source_conn_id=CONN_ID, chunk_size=4 * MiB, max_parallel_chunks=2
    )

    asset = one_asset(emulator, digest, size)
    assert result.rid == asset["rid"] and asset["filename"] == "stream.mp4"
    ranges = []
    for headers in gets:
        start, end = (int(x) for x in headers["Range"].decode().removeprefix("bytes=").split("-"))
        ranges.append((start, end + 1))
        assert headers["If-Match"].decode() == etag, "every read is of the version the upload started with"
    assert max(end - start for start, end in ranges) <= REMOTE_BLOCK + REMOTE_READ_AHEAD
    assert sum(end - start for start, end in ranges) == size, "each byte read once"
    assert sum(r["body_length"] for r in emulator.requests("/upload/")) == size


def test_object_storage_path_with_its_own_connection(hook, emulator, s3):
    from airflow.sdk import ObjectStoragePath

    digest, _ = s3.put("by-path.mp4", 3 * MiB, seed=2)
    result = hook.upload_file(ObjectStoragePath(f"s3://{BUCKET}/by-path.mp4", conn_id=CONN_ID), chunk_size=MiB)
    assert one_asset(emulator, digest, 3 * MiB)["rid"] == result.rid


# -- a task killed mid-upload, then retried ----------------------------------------------------------


CHUNK, PARALLEL = MiB, 2


def _start_upload_task(dag_id: str, key: str) -> subprocess.Popen:
    dag_file = DAGS_FOLDER / f"{dag_id}.py"
    dag_file.write_text(
        textwrap.dedent(
            f"""
            from datetime import datetime, timedelta
            from airflow.sdk import DAG
            from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator

            with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)):
                CincopaUploadFileOperator(task_id="up", source_path="s3://{BUCKET}/{key}",
                    source_conn_id={CONN_ID!r}, chunk_size={CHUNK}, max_parallel_chunks={PARALLEL},
                    retries=1, retry_delay=timedelta(seconds=0))
            """
        )
    )
    code = DAGBAG_IMPORT + f"DagBag(dag_folder={str(dag_file)!r}).get_dag({dag_id!r}).test()"
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ)
    )


def _kill_mid_upload(emulator, worker: subprocess.Popen, after: int) -> int:
    """SIGKILL the task process once the emulator holds ``after`` bytes; return the bytes sent by then."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and worker.poll() is None:
        uploads = emulator.state()["uploads"]
        if uploads and sum(e - s for s, e in uploads[0]["received"]) >= after:
            break
        time.sleep(0.1)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert worker.returncode == -signal.SIGKILL, "the task must die mid-upload, not finish"
    assert emulator.assets() == []
    return sum(r["body_length"] for r in emulator.requests("/upload/"))


def _retry(dag_id: str) -> Any:
    """The scheduler's part (the killed try is running, retries left), then the next try, as test_crash does."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        [ti] = session.query(DagRun).filter(DagRun.dag_id == dag_id).one().get_task_instances(session=session)
        assert ti.state == "running" and ti.try_number == 1, "the killed try never reported back"
    ti, _ = rerun_task(DAGS_FOLDER, dag_id, "up")
    return ti


def test_task_killed_mid_s3_upload_then_retried_finishes_the_same_asset(emulator, airflow_db, s3):
    size = 16 * MiB
    digest, _ = s3.put("crash.mp4", size, seed=3)
    emulator.faults(bandwidth=2 * MiB)  # per request: the kill lands mid-file
    sent_by_first_try = _kill_mid_upload(emulator, _start_upload_task("s3_crash_upload", "crash.mp4"), 6 * MiB)
    emulator.clear_faults()

    ti = _retry("s3_crash_upload")

    assert ti.state == "success" and ti.try_number == 2
    one_asset(emulator, digest, size)
    sent_in_total = sum(r["body_length"] for r in emulator.requests("/upload/"))
    assert sent_by_first_try < size
    if has_task_state_store():
        assert sent_in_total - size <= PARALLEL * CHUNK, "only the chunks in flight at the kill are sent again"
        assert len(emulator.requests("/v2/asset.get_upload_url")) == 1, "the same upload, resumed"
    else:  # no task_state_store below Airflow 3.3: the retry sends the whole file again
        assert sent_in_total - sent_by_first_try >= size


# -- a replaced object ---------------------------------------------------------------------------


def test_object_replaced_between_tries_is_uploaded_anew_never_spliced(emulator, airflow_db, s3):
    size = 16 * MiB
    _, old_etag = s3.put("replaced.mp4", size, seed=4)
    emulator.faults(bandwidth=2 * MiB)
    _kill_mid_upload(emulator, _start_upload_task("s3_replaced_upload", "replaced.mp4"), 6 * MiB)
    emulator.clear_faults()
    # The same key and size, other bytes: only the ETag tells the versions apart.
    new_digest, new_etag = s3.put("replaced.mp4", size, seed=5)
    assert new_etag != old_etag

    ti = _retry("s3_replaced_upload")

    assert ti.state == "success"
    one_asset(emulator, new_digest, size)  # the new version whole: none of the old bytes in it
    assert len(emulator.requests("/v2/asset.get_upload_url")) == 2, "a fresh upload, not the saved one"


def upload_replaced_after_first_chunk(hook, s3, key: str, size: int, seeds: tuple[int, int], error: type) -> tuple:
    """Upload ``s3://media/key`` in 2 MiB chunks, one at a time, replacing the object once the
    first chunk is answered; the error's message (of class ``error``) and the new ETag."""
    s3.put(key, size, seed=seeds[0])
    replaced = []

    def replace_after_first_chunk(done: int, total: int) -> None:
        if not replaced:
            replaced.append(s3.put(key, size, seed=seeds[1]))

    with pytest.raises(error) as err:
        hook.upload_file(
            f"s3://{BUCKET}/{key}",
            source_conn_id=CONN_ID,
            chunk_size=2 * MiB,
            max_parallel_chunks=1,
            progress_callback=replace_after_first_chunk,
        )
    return str(err.value), replaced[0][1]


def test_object_replaced_during_the_upload_stops_the_try(hook, emulator, s3):
    message, new_etag = upload_replaced_after_first_chunk(hook, s3, "midway.mp4", 6 * MiB, (6, 7), CincopaInputError)
    assert "was replaced during upload" in message and f"s3://{CONN_ID}@{BUCKET}/midway.mp4" in message
    assert new_etag in message, "it names the new version"
    assert emulator.assets() == []
    assert sum(r["body_length"] for r in emulator.requests("/upload/") if r["status"] == 200) < 6 * MiB


def test_object_replaced_before_the_completing_chunk_is_never_completed(hook, emulator, s3):
    """The ETag is looked at right before the completing chunk: that chunk is never sent."""
    size = 4 * MiB
    message, new_etag = upload_replaced_after_first_chunk(hook, s3, "late.mp4", size, (8, 9), CincopaSourceChangedError)
    assert "changed while it was read" in message and f"{BUCKET}/late.mp4" in message
    assert new_etag in message, "it names the new version"
    assert emulator.assets() == []
    ranges = [r["headers"]["content-range"] for r in emulator.requests("/upload/")]
    assert ranges[0] == f"bytes 0-{2 * MiB}/{size}"
    assert not [r for r in ranges if r.endswith(f"-{size}/{size}")], "the completing chunk was never sent"


# -- what cannot be read, named ---------------------------------------------------------------------


def test_missing_bucket_names_the_bucket_and_the_connection(hook, emulator, s3):
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file("s3://no-such-bucket/video.mp4", source_conn_id=CONN_ID)
    message = str(err.value)
    assert "The bucket 'no-such-bucket' does not exist" in message and f"connection '{CONN_ID}'" in message
    assert nothing_sent(emulator)


def test_missing_key_names_the_file_bucket_and_connection(hook, emulator, s3):
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file(f"s3://{BUCKET}/no-such-video.mp4", source_conn_id=CONN_ID)
    message = str(err.value)
    assert "The file to upload does not exist" in message and "no-such-video.mp4" in message
    assert f"bucket '{BUCKET}'" in message and f"connection '{CONN_ID}'" in message
    assert nothing_sent(emulator)


@pytest.mark.emulator
def test_undefined_source_conn_id_is_refused(hook, emulator, s3):
    s3.put("anon.mp4", MiB, seed=9)
    with pytest.raises(CincopaInputError) as err:
        hook.upload_file(f"s3://{BUCKET}/anon.mp4", source_conn_id="no_such_connection")
    assert "source_conn_id 'no_such_connection'" in str(err.value) and "is not defined" in str(err.value)
    assert nothing_sent(emulator)


@pytest.mark.slow
def test_refused_credentials_name_the_bucket_and_the_connection(hook, emulator, s3, monkeypatch):
    digest, _ = s3.put("private.mp4", 2 * MiB, seed=8)
    iam = s3.client_for("testing", "testing", "iam")
    iam.create_user(UserName="reader")
    iam.put_user_policy(
        UserName="reader",
        PolicyName="read-media",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        ),
    )
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    monkeypatch.setenv("AIRFLOW_CONN_S3_GOOD_KEY", s3.connection_json(key["AccessKeyId"], key["SecretAccessKey"]))
    monkeypatch.setenv("AIRFLOW_CONN_S3_WRONG_SECRET", s3.connection_json(key["AccessKeyId"], "not-the-secret"))
    s3.require_auth(True)
    try:
        with pytest.raises(CincopaInputError) as err:
            hook.upload_file(f"s3://{BUCKET}/private.mp4", source_conn_id="s3_wrong_secret")
        message = str(err.value)
        assert "refused access" in message and f"bucket '{BUCKET}'" in message
        assert "connection 's3_wrong_secret'" in message and "not-the-secret" not in message
        assert nothing_sent(emulator)
        # The same server takes the right secret: the refusal was about the credentials.
        result = hook.upload_file(f"s3://{BUCKET}/private.mp4", source_conn_id="s3_good_key", chunk_size=MiB)
    finally:
        s3.require_auth(False)
    assert one_asset(emulator, digest, 2 * MiB)["rid"] == result.rid


MISSING_LIBRARY = """
import sys
sys.modules[sys.argv[1]] = None  # as on a plain install: the library cannot be imported
from airflow_provider_cincopa.hooks.sources import open_source
try:
    open_source(sys.argv[2], "any_connection")
except Exception as exc:
    print(type(exc).__name__, exc)
"""


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("library", "url", "extra"), [("s3fs", "s3://media/video.mp4", "s3"), ("gcsfs", "gs://media/video.mp4", "gcs")]
)
def test_without_the_extra_the_error_names_it(library, url, extra):
    out = subprocess.run(
        [sys.executable, "-c", MISSING_LIBRARY, library, url], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    last = out.stdout.strip().splitlines()[-1]
    assert last.startswith("CincopaInputError"), last
    assert library in last and f"pip install 'airflow-provider-cincopa[{extra}]'" in last and url in last
