"""``asset.upload_from_url``: a background thread really downloads the source URL to disk."""

from __future__ import annotations

import secrets
import threading
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx

from airflow_provider_cincopa.emulator import webhooks
from airflow_provider_cincopa.emulator.state import EmulatorState, QuotaFull, digest_file


def start(state: EmulatorState, url: str, target: dict[str, Any]) -> str:
    status_id = "st" + secrets.token_hex(8)
    record = {
        "status_id": status_id,
        "input": url,
        "status": "inprogress",
        "progress_bytes": 0,
        "file_size_bytes": -1,
        "resid": "",
        "message": "",
        "target": target,
        "_abort": threading.Event(),
    }
    with state.lock:
        state.imports[status_id] = record
    threading.Thread(target=_download, args=(state, record), daemon=True, name="cincopa-import").start()
    return status_id


def status(record: dict[str, Any]) -> dict[str, Any]:
    total, done = record["file_size_bytes"], record["progress_bytes"]
    progress = 100 if record["status"] == "done" else (min(99, int(100 * done / total)) if total > 0 else 0)
    # Numbers as strings and -1 while unknown, as the wire-protocol page reports.
    answer = {
        "status": record["status"],
        "progress": str(progress),
        "progress_bytes": str(done),
        "file_size_bytes": str(total),
        "resid": record["resid"],
        "more": "",
        "debug": record["message"],
    }
    if record["message"]:
        answer["message"] = record["message"]
    return answer


def abort(state: EmulatorState, record: dict[str, Any]) -> None:
    # Under the lock: the download thread checks the same flag under it before creating the asset.
    with state.lock:
        if record["status"] == "inprogress":
            record["_abort"].set()
            record.update(status="aborted", message="aborted by asset.upload_from_url_abort")


def _filename(url: str) -> str:
    return unquote(PurePosixPath(urlsplit(url).path).name) or "imported"


def _download(state: EmulatorState, record: dict[str, Any]) -> None:
    cancel: threading.Event = record["_abort"]
    part = state.data_dir / "uploads" / f"{record['status_id']}.part"
    try:
        # identity: progress counts the bytes the source sends, and the file is what it serves.
        with httpx.stream(
            "GET", record["input"], timeout=30, follow_redirects=True, headers={"Accept-Encoding": "identity"}
        ) as response:
            if response.status_code != 200:
                raise RuntimeError(f"source answered HTTP {response.status_code}")
            record["file_size_bytes"] = int(response.headers.get("content-length") or -1)
            rate = state.faults.import_rate
            # Small reads when throttled, so an abort (or a new rate) is noticed quickly.
            block = max(1024, min(64 * 1024, rate // 10)) if rate else 64 * 1024
            with open(part, "wb") as f:
                for piece in response.iter_bytes(block):
                    if cancel.is_set():
                        return
                    f.write(piece)
                    record["progress_bytes"] += len(piece)
                    # The rate as set now: a test can slow an import down, then let it finish.
                    rate = state.faults.import_rate
                    if rate and cancel.wait(len(piece) / rate):
                        return
        size, sha = digest_file(part)
        with state.lock:
            if cancel.is_set():
                return
            asset, created = state.add_asset(part, _filename(record["input"]), record["target"], size, sha)
            record.update(status="done", resid=asset.rid, file_size_bytes=size, progress_bytes=size)
        webhooks.deliver(state, "asset.uploaded" if created else "asset.updated", asset)
    except Exception as exc:
        with state.lock:
            if not cancel.is_set():
                message = "out of assets quota" if isinstance(exc, QuotaFull) else str(exc) or type(exc).__name__
                record.update(status="failed", message=f"import failed: {message}")
    finally:
        part.unlink(missing_ok=True)
