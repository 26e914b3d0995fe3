"""``asset.upload_from_url``: a background thread really downloads the source URL to disk."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from airflow_provider_cincopa.emulator import webhooks
from airflow_provider_cincopa.emulator.state import EmulatorState


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
        "_abort": threading.Event(),
    }
    with state.lock:
        state.imports[status_id] = record
    threading.Thread(target=_download, args=(state, record, target), daemon=True).start()
    return status_id


def status(record: dict[str, Any]) -> dict[str, Any]:
    total, done = record["file_size_bytes"], record["progress_bytes"]
    progress = 100 if record["status"] == "done" else (int(100 * done / total) if total > 0 else 0)
    # Numbers as strings and -1 while unknown, as the wire-protocol page reports.
    return {
        "status": record["status"],
        "progress": str(progress),
        "progress_bytes": str(done),
        "file_size_bytes": str(total),
        "resid": record["resid"],
        "more": "",
        "debug": record["message"],
        "message": record["message"],
    }


def _download(state: EmulatorState, record: dict[str, Any], target: dict[str, Any]) -> None:
    abort: threading.Event = record["_abort"]
    part = state.data_dir / "uploads" / f"{record['status_id']}.part"
    try:
        with httpx.stream("GET", record["input"], timeout=30, follow_redirects=True) as response:
            if response.status_code != 200:
                raise RuntimeError(f"source answered HTTP {response.status_code}")
            record["file_size_bytes"] = int(response.headers.get("content-length") or -1)
            with open(part, "wb") as f:
                started = time.monotonic()
                for block in response.iter_bytes(64 * 1024):
                    if abort.is_set():
                        return
                    f.write(block)
                    record["progress_bytes"] += len(block)
                    _throttle(state, record["progress_bytes"], started)
        if abort.is_set():
            return
        if state.quota_full():
            raise RuntimeError("out of assets quota")
        name = Path(record["input"].split("?")[0]).name or "imported"
        asset, created = state.create_asset(part, name, target)
        record.update(status="done", resid=asset.rid)
        webhooks.deliver(state, "asset.uploaded" if created else "asset.updated", asset)
    except Exception as exc:
        if not abort.is_set():
            record.update(status="failed", message=f"import failed: {exc}")
    finally:
        part.unlink(missing_ok=True)


def _throttle(state: EmulatorState, done: int, started: float) -> None:
    rate = state.faults.import_rate
    if rate:
        ahead = done / rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)


def abort(record: dict[str, Any]) -> None:
    if record["status"] == "inprogress":
        record["_abort"].set()
        record.update(status="aborted", message="aborted by asset.upload_from_url_abort")
