"""
The S3 rows of ``upload_benchmark.py --s3``: the same files uploaded from ``s3://`` (moto's S3 server
on loopback, started here) through ``source_conn_id``, by a bare hook process whose peak RSS is
measured as for local files.

moto answers a ranged GET by copying the whole object out of its store, then slicing it
(``FakeKey.value``, then ``_handle_range_header``): for a 1 GiB object every 2 MiB read would cost
moto a 1 GiB copy, and the figure would be moto's. The server started here reads just the range
(:func:`_serve_ranges_without_copying_the_object`); everything else is stock moto, and the
provider's side (s3fs, aiobotocore, the requests it sends) is untouched.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
BUCKET = "bench"
CONN_ID = "s3_bench"
CHILD = """
import json, resource, sys, time
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
url, chunk, parallel, conn_id = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
hook = CincopaHook()
hook.ping()
rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
result = hook.upload_file(url, source_conn_id=conn_id, chunk_size=chunk or None, max_parallel_chunks=parallel)
elapsed = time.monotonic() - start
print(json.dumps({"rid": result.rid, "seconds": elapsed, "rss_before_kib": rss_before,
                  "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _serve_ranges_without_copying_the_object() -> None:
    """Make moto's ranged GET read only the range from its spooled object (see the module docstring)."""
    from moto.s3 import models, responses

    ranged = threading.local()

    class _Window:
        """What ``_handle_range_header`` needs of an object's value: its length and one slice."""

        def __init__(self, key: Any) -> None:
            self.key = key

        def __len__(self) -> int:
            return int(self.key.contentsize)

        def __getitem__(self, part: slice) -> bytes:
            start, stop, _ = part.indices(len(self))
            with self.key.lock:
                self.key._value_buffer.seek(start)
                return bytes(self.key._value_buffer.read(max(0, stop - start)))

    value = models.FakeKey.value

    def windowed(key: Any) -> Any:
        return _Window(key) if getattr(ranged, "on", False) else value.fget(key)

    models.FakeKey.value = property(windowed, value.fset)  # type: ignore[method-assign]
    key_response = responses.S3Response._key_response

    def _key_response(self: Any, request: Any, full_url: str) -> Any:
        range_header = request.headers.get("range") or ""
        ranged.on = request.method == "GET" and range_header.startswith("bytes=") and "," not in range_header
        try:
            return key_response(self, request, full_url)
        finally:
            ranged.on = False

    responses.S3Response._key_response = _key_response  # type: ignore[method-assign]


class S3Bench:
    """
    moto's S3 on loopback with bucket ``bench``, in a process of its own (``s3_source.py serve``),
    and the ``aws`` connection to it in ``env``. The benchmark's process stays small: a child's
    peak RSS would otherwise start from its parent's (Linux keeps ``ru_maxrss`` across fork and exec).
    """

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        url = self.proc.stdout.readline().strip()
        if not url.startswith("http"):
            sys.exit("the S3 server did not start")
        conn = {"conn_type": "aws", "login": "bench", "password": "bench", "extra": {"endpoint_url": url}}
        env[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(conn)
        self.env = env

    def _ask(self, *words: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(" ".join(words) + "\n")
        self.proc.stdin.flush()
        if self.proc.stdout.readline().strip() != "ok":
            sys.exit(f"the S3 server failed: {words}")

    def upload(self, path: Path, chunk: int, parallel: int) -> dict:
        """Put ``path`` into the bucket, upload it to Cincopa from there; the child's figures."""
        self._ask("put", str(path), path.name)
        try:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, f"s3://{BUCKET}/{path.name}", str(chunk), str(parallel), CONN_ID],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            self._ask("delete", path.name)
        if out.returncode:
            sys.exit(out.stderr[-3000:])
        return json.loads(out.stdout.strip().splitlines()[-1])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def serve() -> None:
    """The S3 server process: prints its URL, then takes ``put PATH KEY`` and ``delete KEY`` lines."""
    import boto3
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from moto.server import ThreadedMotoServer

    logging.disable(logging.INFO)  # werkzeug logs every request
    _serve_ranges_without_copying_the_object()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
    # moto assembles a multipart object in memory when it completes: minutes for 4 GiB on a busy
    # machine. A retried CompleteMultipartUpload after botocore's 60 s read timeout finds the
    # upload gone (KeyError in moto), so wait instead, and do not retry.
    config = Config(read_timeout=1800, retries={"max_attempts": 1})
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", config=config, **keys)
    client.create_bucket(Bucket=BUCKET)
    print(url, flush=True)
    for line in sys.stdin:
        command, *words = line.split()
        if command == "put":
            client.upload_file(words[0], BUCKET, words[1], Config=TransferConfig(multipart_chunksize=64 * MiB))
        elif command == "delete":
            client.delete_object(Bucket=BUCKET, Key=words[0])
        print("ok", flush=True)
    server.stop()


if __name__ == "__main__":
    if sys.argv[1:] != ["serve"]:
        sys.exit(f"run it through upload_benchmark.py --s3 (from {os.path.dirname(__file__)})")
    serve()
