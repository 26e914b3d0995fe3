"""
The probe's URL import (``--import-url``, opt-in): the status words a real import reports.

Only ``inprogress`` was ever seen on the wire; the done and failed words the provider reads are a
guess (docs/api-coverage.md). One import of a small public file settles them. The asset it makes
is deleted; an import still running when the probe stops waiting is aborted.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from airflow_provider_cincopa.probe._checks import attempt, fields
from airflow_provider_cincopa.probe.report import CONFIRMED, ERROR, NOT_CHECKED, Finding

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

START = "takes input (and fid, rid+type) and answers status_id"
STATUS = "terminal status words: ready/done/complete/completed/success or a resid; failed/error/aborted"
ABORT = "takes status_id"


def import_findings(hook: CincopaHook, url: str, *, wait: float) -> list[Finding]:
    """Import ``url``, follow its status words until it ends (or ``wait`` s), then clean up."""
    status_id: str | None = None

    def start() -> tuple[str, str]:
        nonlocal status_id
        status_id = hook.upload_from_url(url)
        return CONFIRMED, "answered a status_id"

    findings = [attempt("asset.upload_from_url", START, start)]
    if status_id is None:
        return findings
    started = status_id
    rid: str | None = None
    seen: list[str] = []

    def follow() -> tuple[str, str]:
        nonlocal rid
        deadline = time.monotonic() + wait
        while True:
            status = hook.get_upload_from_url_status(started)
            word = str(status.raw.get("status") or "")
            if not seen or seen[-1] != word:
                seen.append(word)
            evidence = f"status words in order {seen}; answer fields {fields(status.raw)}"
            if status.is_terminal:
                rid = status.rid
                return CONFIRMED, f"{evidence}; read as {status.state}{' with a resid' if rid else ''}"
            if time.monotonic() >= deadline:
                # A last word other than inprogress here is one the provider does not know.
                return NOT_CHECKED, f"still running by the provider's reading after {wait:g} s: {evidence}"
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))

    try:
        findings.append(attempt("asset.upload_from_url_get_status", STATUS, follow))
    finally:
        findings.append(_end(hook, started, rid, ended=findings[-1].status == CONFIRMED))
    return findings


def _end(hook: CincopaHook, status_id: str, rid: str | None, *, ended: bool) -> Finding:
    """Delete what the import made, or abort it if it still runs: the abort row's finding."""
    if not ended:
        return attempt(
            "asset.upload_from_url_abort",
            ABORT,
            lambda: (CONFIRMED, f"accepted: answer fields {fields(hook.abort_upload_from_url(status_id))}"),
        )
    if rid is not None:
        try:
            hook.delete_asset(rid, missing_ok=True)
        except Exception as exc:
            return Finding("asset.upload_from_url_abort", ABORT, ERROR, f"could not delete asset {rid}: {exc}")
        return Finding(
            "asset.upload_from_url_abort", ABORT, NOT_CHECKED, f"the import ended; its asset {rid} was deleted"
        )
    return Finding("asset.upload_from_url_abort", ABORT, NOT_CHECKED, "the import ended without an asset")
