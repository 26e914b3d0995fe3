"""
The probe's writes: two short-lived tokens, and one tiny upload in parallel chunks that is
downloaded back, compared byte for byte and deleted.

Cincopa's own uploader sends one chunk at a time; its docs say chunk order does not matter, and
no public client was seen sending chunks in parallel, as the provider does. So the upload is
checked end to end: the ``original`` version Cincopa serves must hash to what was sent.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.exceptions import CincopaAuthError, CincopaError
from airflow_provider_cincopa.probe._checks import attempt, fields, verdict
from airflow_provider_cincopa.probe.report import CONFIRMED, CONTRADICTED, NOT_CHECKED, Finding

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

#: The probe's file: CHUNKS chunks of CHUNK bytes and a short last one, PARALLEL in flight.
CHUNK, CHUNKS, PARALLEL = 64 * 1024, 4, 4
#: The gallery update method the provider calls, and the one the issue tracker names.
GALLERY_UPDATES = ("gallery.set_meta", "gallery.update")
#: Tag and reference_id prefix of the probe's upload: an asset left behind is easy to find.
PROBE_TAG = "cincopa-probe"
#: What each write checks: row of docs/api-coverage.md -> assumption (the read-only report lists
#: them too, as not checked).
WRITE_ROWS = {
    "token.get_temp": "takes ttl and a pipe list of permissions and answers `token`, which may call only the "
    "listed methods",
    "upload.get_upload_token": "takes ttl (and fid) and answers `token`",
    "Upload host": "takes ranged chunks and answers the new rid",
    "asset.get_upload_url": "answers upload_url",
    "asset.set_meta": "tags and reference_id set are found by asset.list's reference_id filter",
    "Parallel chunks": "chunks of one upload sent in parallel (max_parallel_chunks > 1) are assembled into the "
    "file sent: the original version downloads with the same sha256",
    "asset.delete": "deletes the asset: asset.list no longer shows its rid",
    "gallery.set_meta": "gallery.set_meta is a method (the one the provider updates a gallery with); the "
    "evidence also says whether gallery.update is one",
}


def write_finding(row: str, check: Callable[[], tuple[str, str]]) -> Finding:
    """:func:`attempt` of one write row."""
    return attempt(row, WRITE_ROWS[row], check)


def write_not_checked(row: str, why: str) -> Finding:
    """A write row left unchecked, and why."""
    return Finding(row, WRITE_ROWS[row], NOT_CHECKED, why)


def token_findings(hook: CincopaHook) -> list[Finding]:
    """``token.get_temp`` and ``upload.get_upload_token`` answer a token (never shown) to our parameters."""
    return [
        write_finding("token.get_temp", lambda: _temp_token_is_limited(hook)),
        write_finding(
            "upload.get_upload_token",
            lambda: (
                (CONFIRMED, "answered a token (not shown) to ttl=60")
                if hook.get_upload_token(ttl=60)
                else (CONTRADICTED, "no token")
            ),
        ),
    ]


def gallery_update_finding(hook: CincopaHook) -> Finding:
    """
    Which gallery update method exists, asked about a gallery that does not exist, with nothing
    to set: each answer is compared with the answer to a method that surely does not exist.
    """
    fid = f"airflowprobe{secrets.token_hex(4)}"

    def answer(method: str) -> str:
        try:
            return f"accepted ({fields(hook.call(method, {'fid': fid}, http_method='POST', idempotent=False))})"
        except CincopaError as exc:  # the method's name taken out: only the answers are compared
            return f"{type(exc).__name__}: {exc}".replace(method, "<method>")

    def check() -> tuple[str, str]:
        missing, set_meta, update = (answer(m) for m in ("gallery.airflow_probe_no_such_method", *GALLERY_UPDATES))
        evidence = (
            f"fid={fid}: no such method -> {missing!r}; gallery.set_meta -> {set_meta!r}; gallery.update -> {update!r}"
        )
        return verdict(set_meta != missing, evidence)

    return write_finding("gallery.set_meta", check)


def _temp_token_is_limited(hook: CincopaHook) -> tuple[str, str]:
    """A temp token made for ``ping|asset.list`` may call ping and is refused asset.get_tags."""
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    asked = "ttl=60, permissions=ping|asset.list"
    token = hook.get_temp_token(ttl=60, permissions="ping|asset.list")
    # The same connection with the temp token in place of the api_token: no second HTTP client.
    temp = CincopaHook(hook.cincopa_conn_id)
    temp.settings = replace(hook.settings, token=token)
    try:
        try:
            temp.call("ping")
        except CincopaAuthError:
            return CONTRADICTED, f"a temp token made with {asked} was refused ping: the list was not read as meant"
        try:
            temp.call("asset.get_tags")
        except CincopaAuthError:
            return CONFIRMED, f"a temp token made with {asked} could call ping and got HTTP 403 for asset.get_tags"
        return CONTRADICTED, f"a temp token made with {asked} could call asset.get_tags too: the list did not limit it"
    finally:
        temp.close()


def download_matches(url: str, digest: str, size: int, *, timeout: float = 60) -> tuple[str, str]:
    """
    GET ``url`` in a session of its own (the version URL is a CDN's, not the API's; redirects
    allowed) and compare its sha256 with ``digest``.
    """
    import requests

    with requests.Session() as session:
        response = session.get(url, timeout=timeout, allow_redirects=True)
        if response.status_code != 200:
            return NOT_CHECKED, f"GET of the original version answered HTTP {response.status_code}"
        body = response.content
    got = hashlib.sha256(body).hexdigest()
    return verdict(got == digest, f"sent {size} bytes sha256 {digest}; downloaded {len(body)} bytes sha256 {got}")


def original_url(hook: CincopaHook, rid: str, wait: float) -> str | None:
    """``versions.original.url`` of the asset once ``asset.list`` shows it, polling up to ``wait`` s."""
    deadline = time.monotonic() + wait
    while True:
        versions: Any = hook.get_asset(rid).get("versions")
        if isinstance(versions, list):  # the list shape docs/api-coverage.md also reads
            versions = {v.get("name"): v for v in versions if isinstance(v, dict)}
        url = (versions or {}).get("original", {}).get("url") if isinstance(versions, dict) else None
        if url or time.monotonic() >= deadline:
            return url
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))


def upload_findings(hook: CincopaHook, *, wait: float) -> list[Finding]:
    """Upload, tag, download back and delete one tiny file; the delete runs whatever failed before."""
    run = secrets.token_hex(4)
    # Text, so that Cincopa stores it as a plain file rather than trying to transcode it.
    data = secrets.token_hex((CHUNKS * CHUNK + 1000) // 2).encode()
    digest = hashlib.sha256(data).hexdigest()
    findings: list[Finding] = []
    rid: str | None = None
    with tempfile.TemporaryDirectory(prefix="cincopa-probe-") as folder:
        path = Path(folder) / f"cincopa-probe-{run}.txt"
        path.write_bytes(data)

        def upload() -> tuple[str, str]:
            nonlocal rid
            rid = hook.upload_file(str(path), chunk_size=CHUNK, max_parallel_chunks=PARALLEL).rid
            chunks = -(-len(data) // CHUNK)
            return (
                CONFIRMED,
                f"{len(data)} bytes in {chunks} chunks of {CHUNK}, max_parallel_chunks={PARALLEL}: rid {rid}",
            )

        try:
            findings.append(write_finding("Upload host", upload))
            if rid is None:  # the rows after it are reported not checked (run_probe)
                return findings
            findings.append(
                write_finding("asset.get_upload_url", lambda: (CONFIRMED, "its upload_url took the upload"))
            )
            uploaded = rid
            findings.append(
                write_finding(
                    "asset.set_meta",
                    lambda: _tag_and_find(hook, uploaded, f"{PROBE_TAG}-{run}"),
                )
            )
            findings.append(write_finding("Parallel chunks", lambda: _compare(hook, uploaded, digest, len(data), wait)))
        finally:
            if rid is not None:
                gone = rid
                findings.append(
                    write_finding(
                        "asset.delete",
                        lambda: verdict(hook.delete_asset(gone) and not hook.asset_exists(gone), f"deleted rid {gone}"),
                    )
                )
    return findings


def _tag_and_find(hook: CincopaHook, rid: str, reference_id: str) -> tuple[str, str]:
    hook.set_meta(rid, tags=PROBE_TAG, reference_id=reference_id)
    found = [a.get("rid") for a in hook.find_assets_by_reference_id(reference_id)]
    return verdict(found == [rid], f"reference_id {reference_id} found rids {found}")


def _compare(hook: CincopaHook, rid: str, digest: str, size: int, wait: float) -> tuple[str, str]:
    url = original_url(hook, rid, wait)
    if not url:
        return NOT_CHECKED, f"asset.list showed no versions.original.url within {wait:g} s"
    try:
        return download_matches(url, digest, size)
    except OSError as exc:  # requests' errors are OSErrors: the CDN could not be reached
        return NOT_CHECKED, f"the original version could not be downloaded: {type(exc).__name__}: {exc}"
