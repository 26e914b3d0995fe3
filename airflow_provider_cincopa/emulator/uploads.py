"""
The upload host, as Cincopa's own uploader uses it (wire-protocol page): raw bytes per POST,
``Content-Range: bytes START-END/TOTAL`` with an exclusive END, one ``unique-id`` per file, plain
text answers. Chunks go straight to a sparse file with ``os.pwrite``, so a multi-GB upload costs
no memory; the asset is created exactly once, when the last missing range arrives.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import anyio

from airflow_provider_cincopa.emulator import webhooks
from airflow_provider_cincopa.emulator.api import sign
from airflow_provider_cincopa.emulator.state import EmulatorState, UploadSession

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


def check_url(state: EmulatorState, query: dict[str, str]) -> dict[str, Any]:
    d, given = query.get("d", ""), query.get("hash", "")
    if not d or not given or not _same(sign(state, d), given):
        raise UploadRefused("error: authentication failed", 403)
    return json.loads(bytes.fromhex(d.split(".", 1)[1]))


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a, b)


async def receive(state: EmulatorState, query: dict[str, str], headers: Any, body: AsyncIterator[bytes]) -> str:
    """Take one chunk (or a whole file); return the text answer."""
    target = check_url(state, query)
    filename = unquote(headers.get("x-file-name") or "") or "upload.bin"
    length = int(headers.get("content-length") or -1)
    header = headers.get("content-range")
    if header is None:  # a classic single POST: the whole file in the body
        if length < 0:
            raise UploadRefused("error: Content-Length required")
        start, end, total = 0, length, length
    else:
        match = CONTENT_RANGE.match(header.strip())
        if not match:
            raise UploadRefused(f"error: malformed Content-Range {header!r}, expected 'bytes START-END/TOTAL'")
        start, end, total = map(int, match.groups())
        if not 0 <= start < end <= total:
            raise UploadRefused(f"error: Content-Range {header!r} is out of bounds (END is exclusive)")
        if length != end - start:
            raise UploadRefused(f"error: Content-Length {length} does not match Content-Range {header!r}")
    unique_id = headers.get("unique-id") or ""
    key = f"{query.get('d')}|{unique_id}|{filename}"
    with state.lock:
        session = state.uploads.get(key)
        if session is None:
            path = state.data_dir / "uploads" / hashlib.sha256(key.encode()).hexdigest()
            session = UploadSession(key, unique_id, filename, total, path, target)
            state.uploads[key] = session
    if session.total != total:
        raise UploadRefused(f"error: TOTAL {total} differs from this upload's earlier chunks ({session.total})")
    if session.final_answer is not None:
        # A chunk retried after the file completed (its answer was lost): the same answer, no new asset.
        session.bytes_received_total += await _drain(body)
        return session.final_answer
    written = await _write(session.path, start, end, body)
    if written != end - start:
        raise UploadRefused(f"error: body has {written} bytes, Content-Range says {end - start}")
    async with session.lock:
        session.bytes_received_total += written
        if session.final_answer is not None:
            return session.final_answer
        session.add(start, end)
        if not session.complete:
            return CHUNK_DONE
        if state.quota_full():
            session.received = []
            raise UploadRefused("error: out of assets quota", 200)
        asset, created = await anyio.to_thread.run_sync(state.create_asset, session.path, filename, target)
        session.final_answer = final_answer(asset.id, asset.rid)
    webhooks.deliver(state, "asset.uploaded" if created else "asset.updated", asset)
    return session.final_answer


async def _write(path: Path, start: int, end: int, body: AsyncIterator[bytes]) -> int:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    offset = start
    try:
        async for piece in body:
            if offset + len(piece) > end:
                piece = piece[: max(0, end - offset)]
            os.pwrite(fd, piece, offset)
            offset += len(piece)
            await asyncio.sleep(0)
    finally:
        os.close(fd)
    return offset - start


async def _drain(body: AsyncIterator[bytes]) -> int:
    return sum([len(piece) async for piece in body])
