"""
The upload host, as Cincopa's own uploader uses it (wire-protocol page): raw bytes per POST,
``Content-Range: bytes START-END/TOTAL`` with an exclusive END, one ``unique-id`` per file, plain
text answers. Chunks go straight to a sparse file with ``os.pwrite``, so a multi-GB upload costs
no memory; the asset is created exactly once, when the last missing range arrives.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import unquote

import anyio

from airflow_provider_cincopa.emulator import webhooks
from airflow_provider_cincopa.emulator.api_base import sign
from airflow_provider_cincopa.emulator.state import EmulatorState, QuotaFull, UploadSession

CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")
CHUNK_DONE = "authentication ok\nchunk done.\n"


class UploadRefused(Exception):
    """Answered as ``error: ...`` text with ``status``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def final_answer(asset_id: int, rid: str) -> str:
    return (
        "authentication ok\nfile received ok\nreading metadata ok\nfile stored ok\ncreating resource ok\n"
        f"new resource id {asset_id} {rid}\ndone.\n"
    )


def check_url(state: EmulatorState, query: Mapping[str, str], client_ip: str) -> dict[str, Any]:
    """The upload URL's claims (target, expiry, IP), if its ``hash`` is ours and it still holds."""
    d, given = query.get("d", ""), query.get("hash", "")
    if not d or not given or not hmac.compare_digest(sign(state, d), given):
        raise UploadRefused("error: authentication failed", 403)
    claims: dict[str, Any] = json.loads(bytes.fromhex(d.split(".", 1)[1]))
    if claims.get("exp") and claims["exp"] < time.time():
        raise UploadRefused("error: authentication failed (upload URL expired)", 403)
    if claims.get("ip") and claims["ip"] != client_ip:
        raise UploadRefused("error: authentication failed (upload URL is for another IP)", 403)
    return claims


def check_body_type(headers: Mapping[str, str]) -> None:
    """
    Take any Content-Type over a raw body, bar a real multipart form.

    Cincopa's own uploader sends a literal ``multipart/form-data`` with no boundary, which the
    host does not appear to read (wire-protocol page); ``application/octet-stream`` or none at all
    are raw bytes too. A ``boundary`` means a client sent an actual form: whether Cincopa takes
    one is unknown, and stored as raw bytes its framing would end up inside the asset. The
    emulator refuses it (its own strictness, not a known Cincopa answer) so that client fails
    loudly in tests instead of making a corrupt asset.
    """
    media, _, params = (headers.get("content-type") or "").partition(";")
    if media.strip().lower() == "multipart/form-data" and "boundary=" in params.lower():
        raise UploadRefused(
            "error: the upload host takes a chunk's raw bytes, not a multipart form "
            "(send Content-Type: multipart/form-data without a boundary, or application/octet-stream)"
        )


def parse_range(headers: Mapping[str, str]) -> tuple[int, int, int]:
    """``(start, end, total)`` with END exclusive; no Content-Range means the whole file at once."""
    raw_length = headers.get("content-length")
    length = int(raw_length) if raw_length and raw_length.isdigit() else None
    header = headers.get("content-range")
    if header is None:
        if length is None:
            raise UploadRefused("error: Content-Length required for an upload without Content-Range", 411)
        return 0, length, length
    match = CONTENT_RANGE.match(header.strip())
    if not match:
        raise UploadRefused(f"error: malformed Content-Range {header!r}, expected 'bytes START-END/TOTAL'")
    start, end, total = map(int, match.groups())
    if end <= start:
        raise UploadRefused(f"error: Content-Range {header!r} has END <= START (END is exclusive)")
    if end > total:
        raise UploadRefused(f"error: Content-Range {header!r} has END > TOTAL (END is exclusive)")
    if length is not None and length != end - start:
        raise UploadRefused(f"error: Content-Length {length} does not match Content-Range {header!r}")
    return start, end, total


def _session(
    state: EmulatorState, query: Mapping[str, str], headers: Mapping[str, str], total: int, target: dict[str, Any]
) -> UploadSession:
    filename = unquote(headers.get("x-file-name") or "") or "upload.bin"
    unique_id = headers.get("unique-id") or ""
    key = f"{query.get('d')}|{unique_id}|{filename}"
    with state.lock:
        session = state.uploads.get(key)
        if session is None:
            path = state.data_dir / "uploads" / hashlib.sha256(key.encode()).hexdigest()
            path.touch()  # chunks open it without O_CREAT: a chunk racing completion cannot recreate it
            session = state.uploads[key] = UploadSession(key, unique_id, filename, total, path, target)
    if session.total != total:
        raise UploadRefused(f"error: TOTAL {total} differs from this upload's earlier chunks ({session.total})")
    return session


async def receive(
    state: EmulatorState, query: Mapping[str, str], headers: Mapping[str, str], body: AsyncIterator[bytes], ip: str
) -> str:
    """Take one chunk (or a whole file); return the text answer."""
    target = check_url(state, query, ip)
    check_body_type(headers)
    start, end, total = parse_range(headers)
    session = _session(state, query, headers, total, target)
    written, stored = await _write(session, start, end, body, keep=not state.discard_uploads)
    session.bytes_received_total += written
    if session.final_answer is not None:
        # A chunk retried after the file completed (its answer was lost): no new asset, and the
        # answer the `completed_answer` knob chooses.
        return _answer_completed(state, session)
    if written != end - start:
        raise UploadRefused(f"error: body has {written} bytes, Content-Range says {end - start}")
    if not stored:
        raise UploadRefused("error: this upload session is gone (the emulator was reset); start over")
    async with session.lock:
        if session.final_answer is not None:
            return _answer_completed(state, session)
        session.add(start, end)
        if not session.complete:
            return CHUNK_DONE
        # Complete: create the asset exactly once (hashed later, when inspected: see add_asset).
        try:
            asset, created = await anyio.to_thread.run_sync(
                state.add_asset, session.path, session.filename, target, session.total
            )
        except QuotaFull:
            # The bytes stay: a later chunk retries the completion, as a real quota could be raised.
            raise UploadRefused("error: out of assets quota", 200) from None
        session.rid = asset.rid
        session.final_answer = final_answer(asset.id, asset.rid)
    webhooks.deliver(state, "asset.uploaded" if created else "asset.updated", asset)
    if state.faults.stall_final:
        await anyio.sleep(state.faults.stall_final)
    return session.final_answer


def _answer_completed(state: EmulatorState, session: UploadSession) -> str:
    mode = state.faults.completed_answer
    if mode == "error":
        raise UploadRefused("error: this upload is already complete", 200)
    if mode == "done":
        return CHUNK_DONE
    assert session.final_answer is not None
    return session.final_answer


async def _write(
    session: UploadSession, start: int, end: int, body: AsyncIterator[bytes], keep: bool = True
) -> tuple[int, bool]:
    """
    Write the body at ``start``. Returns how many bytes came (all counted, none past ``end``
    written) and whether the session's file was there to take them. With ``keep`` False the bytes
    are only counted; the file gets its size (a hole) so the asset's size is right.
    """
    try:
        fd = os.open(session.path, os.O_WRONLY)
    except FileNotFoundError:
        fd = -1  # completed (moved into the assets) or reset meanwhile: just count
    offset = start
    try:
        async for piece in body:
            kept = piece[: max(0, end - offset)] if keep else b""
            if fd >= 0 and kept and session.final_answer is None:
                os.pwrite(fd, kept, offset)
            offset += len(piece)
        if fd >= 0 and not keep and os.fstat(fd).st_size < min(offset, end):
            os.ftruncate(fd, min(offset, end))
    finally:
        if fd >= 0:
            os.close(fd)
    return offset - start, fd >= 0
