"""
What the upload host answers, read one way: a chunk's answer checked
(:func:`parse_upload_answer`), and the asset an upload made without naming it found again
(:func:`find_created_asset`).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.exceptions import CincopaAuthError, CincopaHttpError, CincopaUploadError
from airflow_provider_cincopa.hooks._answers import number
from airflow_provider_cincopa.hooks._transport import (
    MalformedAnswerError,
    TransientError,
    is_transient_status,
    seconds_from_header,
)
from airflow_provider_cincopa.redaction import printable, redact

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.upload import UploadHost

#: Slack for clocks when matching an asset's ``modified`` time against the upload's start.
CLOCK_SKEW = 600.0
#: The completing chunk's answer: ``new resource id <id> <rid>``.
NEW_RESOURCE = re.compile(r"new resource id (\d+) (\S+)")


def parse_upload_answer(filename: str, status_code: int, text: str, retry_after: str | None = None) -> str:
    """
    Check one upload-host answer and return its text, or raise.

    The status decides first. HTTP 403: the upload URL is not (or no longer) accepted. 429 and
    every 5xx are transient whatever the body says: a gateway's error page or a bare ``internal
    error`` contains the word ``error`` too. Only a non-retryable answer whose text says ``error``
    is Cincopa refusing the file (quota, refused file), fatal as Cincopa's own clients treat it.
    A 200 with neither ``done`` nor a resource id is treated as truncated and sent again.
    """
    flat = " ".join(text.split())
    said = redact(flat[:300])
    if status_code == 403:
        raise CincopaAuthError(
            f"The upload host refused {filename} with HTTP 403 ({said}): the upload URL expired or is invalid",
            method="upload",
            status_code=403,
        )
    if is_transient_status(status_code):
        raise TransientError(
            f"The upload host answered HTTP {status_code} for {filename}: {said}",
            method="upload",
            status_code=status_code,
            retry_after=seconds_from_header(retry_after),
        )
    if "error" in text.lower():
        raise CincopaUploadError(
            f"Cincopa refused the upload of {filename}: {said}", method="upload", status_code=status_code
        )
    if status_code != 200:
        raise CincopaHttpError(
            f"The upload host answered HTTP {status_code} for {filename}: {said}",
            method="upload",
            status_code=status_code,
        )
    if not NEW_RESOURCE.search(text) and "done" not in text.lower():
        raise MalformedAnswerError(
            f"The upload host's answer for {filename} is not one it sends: {said!r}", method="upload"
        )
    return text


def find_created_asset(
    hook: UploadHost, *, filename: str, size: int, since: float, wait: float
) -> dict[str, Any] | None:
    """
    The asset an upload made without naming it: same file name and size, not older than the
    upload (give or take :data:`CLOCK_SKEW`), looked up through ``asset.list`` for up to ``wait``
    seconds, since a new asset may take a moment to be listed.

    Returns None when there is none, and also when several match: adopting the wrong one would
    hand another file's rid downstream, a duplicate upload is the lesser harm.
    """
    deadline = time.monotonic() + wait
    pause = 1.0
    while True:
        matches = [
            item
            for item in hook.list_assets(search=filename)
            if item.get("rid")
            and str(item.get("filename") or "") == filename
            and _item_size(item) == size
            and _not_before(item, since - CLOCK_SKEW)
        ]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            hook.log.warning(
                "%d assets match %s (%d bytes): %s; not guessing which one this upload made",
                len(matches),
                printable(filename),
                size,
                ", ".join(str(m["rid"]) for m in matches),
            )
            return None
        if time.monotonic() + pause > deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, 8.0)


def _item_size(item: dict[str, Any]) -> int | None:
    # Which field carries the size is not documented: the emulator's shape follows the docs'
    # asset.list example (filesize, versions.original.filesize); accept the plausible others.
    versions = item.get("versions")
    original = versions.get("original") if isinstance(versions, dict) else None
    if not isinstance(original, dict):
        original = {}
    for value in (item.get("filesize"), item.get("size"), original.get("filesize")):
        size = number(value)
        if size is not None:
            return size
    return None


def _not_before(item: dict[str, Any], since: float) -> bool:
    # An unreadable or missing time does not exclude an asset: name and size still have to match.
    raw = str(item.get("modified") or item.get("uploaded") or item.get("created") or "")
    try:
        when = datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", raw.replace("Z", "+00:00")))
    except ValueError:
        return True
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp() >= since
