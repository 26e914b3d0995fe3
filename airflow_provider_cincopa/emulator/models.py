"""The emulator's records: tokens, assets and upload sessions, with the small helpers they need."""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_cincopa.ranges import add_range

MASTER_PERMISSIONS = ("asset.*", "gallery.*", "webhook.*", "portal.*", "upload.*", "token.*")
#: What a temporary token may call: reads only (temp tokens are meant for browsers).
READ_METHODS = frozenset(
    {
        "ping",
        "asset.list",
        "asset.get_tags",
        "asset.upload_from_url_get_status",
        "gallery.list",
        "gallery.get_items",
        "webhook.list",
        "portal.list",
        "portal.check",
        "upload.iframe",
    }
)
RID_ALPHABET = string.ascii_letters + string.digits + "-_"
VIDEO = {".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi", ".ts", ".wmv", ".flv", ".mpg", ".mpeg"}
IMAGE = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".svg"}
AUDIO = {".mp3", ".wav", ".aac", ".m4a", ".ogg", ".flac", ".wma"}


def new_rid() -> str:
    return "".join(secrets.choice(RID_ALPHABET) for _ in range(12))


def now_iso() -> str:
    # Cincopa's own format: seven fractional digits and a Z. Microseconds, not zeros: two changes
    # within a second must differ, as incremental exports compare `modified`.
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f0Z")


def kind_of(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return "video" if suffix in VIDEO else "image" if suffix in IMAGE else "audio" if suffix in AUDIO else "other"


def mime_of(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


@dataclass
class Token:
    value: str
    permissions: tuple[str, ...]
    expires: float | None = None
    temp: bool = False
    sourceip: str | None = None

    def allows(self, method: str) -> bool:
        if self.temp and method not in READ_METHODS:
            return False
        if method == "ping":  # any valid token may check itself
            return True
        namespace = method.split(".")[0]
        return any(p in (method, f"{namespace}.*", "*") for p in self.permissions)


@dataclass
class Asset:
    rid: str
    id: int
    filename: str
    size: int
    #: None until someone inspects the asset (``EmulatorState.snapshot`` hashes it then).
    sha256: str | None
    type: str
    gallery: str | None = None
    caption: str = ""
    description: str = ""
    long_description: str = ""
    related_link_text: str = ""
    related_link_url: str = ""
    reference_id: str = ""
    tags: str = ""
    modified: str = field(default_factory=now_iso)
    attachments: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class UploadSession:
    """One file arriving in chunks: keyed by upload URL identity, ``unique-id`` and file name."""

    key: str
    unique_id: str
    filename: str
    total: int
    path: Path
    target: dict[str, Any]
    received: list[list[int]] = field(default_factory=list)
    bytes_received_total: int = 0
    final_answer: str | None = None
    rid: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)  # all chunks run on one loop

    def add(self, start: int, end: int) -> None:
        self.received = add_range(self.received, start, end)

    @property
    def complete(self) -> bool:
        return self.received == [[0, self.total]]


@dataclass
class Gallery:
    """A gallery: its metadata and its assets' rids, in gallery order."""

    fid: str
    name: str = ""
    description: str = ""
    tags: str = ""
    template: str = ""
    items: list[str] = field(default_factory=list)
    modified: str = field(default_factory=now_iso)
