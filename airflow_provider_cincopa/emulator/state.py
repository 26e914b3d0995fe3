"""
Everything the emulator remembers: tokens, assets (bytes on disk), uploads in progress, URL
imports, webhooks and portals. Thread-safe: uvicorn's loop, upload writes and import threads
all touch it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
import shutil
import string
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_cincopa.emulator.faults import Faults
from airflow_provider_cincopa.ranges import add_range

MASTER_PERMISSIONS = ("asset.*", "gallery.*", "webhook.*", "portal.*", "upload.*", "token.*")
#: What a temporary token may call: reads only (wire-protocol page: temp tokens are for browsers).
READ_METHODS = frozenset(
    {
        "ping",
        "asset.list",
        "asset.get_tags",
        "asset.upload_from_url_get_status",
        "webhook.list",
        "portal.list",
        "portal.check",
        "upload.iframe",
    }
)
RID_ALPHABET = string.ascii_letters + string.digits + "-_"
VIDEO = {".mp4", ".mov", ".mkv", ".webm", ".m4v", ".avi", ".ts"}
IMAGE = {".jpg", ".jpeg", ".png", ".gif", ".webp"}
AUDIO = {".mp3", ".wav", ".aac", ".m4a", ".ogg"}


def new_rid() -> str:
    return "".join(secrets.choice(RID_ALPHABET) for _ in range(12))


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def kind_of(filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return "video" if suffix in VIDEO else "image" if suffix in IMAGE else "audio" if suffix in AUDIO else "other"


@dataclass
class Token:
    value: str
    permissions: tuple[str, ...]
    expires: float | None = None
    temp: bool = False

    def allows(self, method: str) -> bool:
        if self.temp and method not in READ_METHODS:
            return False
        if method == "ping":
            return True
        namespace = method.split(".")[0]
        return any(p in (method, f"{namespace}.*", "*") for p in self.permissions)


@dataclass
class Asset:
    rid: str
    id: int
    filename: str
    size: int
    sha256: str
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
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)  # all chunks run on one loop

    def add(self, start: int, end: int) -> None:
        self.received = add_range(self.received, start, end)

    @property
    def complete(self) -> bool:
        return self.received == [[0, self.total]]


class EmulatorState:
    """
    The emulator's memory.

    :param token: the account's api_token (full permissions).
    :param data_dir: where asset files and metadata persist; a temp dir removed at close if None.
    :param galleries: gallery fids that exist.
    :param extra_tokens: more tokens with limited permissions, ``{token: (permission, ...)}``.
    """

    def __init__(
        self,
        token: str,
        data_dir: str | os.PathLike[str] | None = None,
        galleries: tuple[str, ...] = (),
        extra_tokens: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.faults = Faults()
        self.account = {
            "accid": "emulator",
            "accid_num": 1000001,
            "accemail": "owner@example.com",
            "userid": 1,
            "useremail": "owner@example.com",
        }
        self.tokens: dict[str, Token] = {token: Token(token, MASTER_PERMISSIONS)}
        for value, perms in (extra_tokens or {}).items():
            self.tokens[value] = Token(value, perms)
        self.secret = secrets.token_bytes(32)  # signs upload URLs
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="cincopa-emulator-"))
        (self.data_dir / "assets").mkdir(parents=True, exist_ok=True)
        (self.data_dir / "uploads").mkdir(parents=True, exist_ok=True)
        self.galleries = set(galleries)
        self.requests: deque[dict[str, Any]] = deque(maxlen=5000)
        self._next_id = 198_000_000
        self.reset(keep_files=True)
        self._load()

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self, keep_files: bool = False) -> None:
        with self.lock:
            self.assets: dict[str, Asset] = {}
            self.uploads: dict[str, UploadSession] = {}
            self.imports: dict[str, dict[str, Any]] = {}
            self.webhooks: dict[str, dict[str, Any]] = {}
            self.deliveries: list[dict[str, Any]] = []
            self.portals: dict[str, dict[str, Any]] = {}
            self.requests.clear()
            self.faults.clear()
            self.tokens = {k: t for k, t in self.tokens.items() if not t.temp}
            if not keep_files:
                for sub in ("assets", "uploads"):
                    shutil.rmtree(self.data_dir / sub, ignore_errors=True)
                    (self.data_dir / sub).mkdir(parents=True)
                self.save()

    def close(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def save(self) -> None:
        """Persist metadata (asset bytes are already on disk)."""
        with self.lock:
            data = {
                "assets": [asdict(a) for a in self.assets.values()],
                "webhooks": list(self.webhooks.values()),
                "portals": self.portals,
                "galleries": sorted(self.galleries),
                "next_id": self._next_id,
            }
            tmp = self.data_dir / "state.json.tmp"
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.data_dir / "state.json")

    def _load(self) -> None:
        path = self.data_dir / "state.json"
        if not path.exists():
            return
        data = json.loads(path.read_text())
        self.assets = {a["rid"]: Asset(**a) for a in data.get("assets", [])}
        self.webhooks = {w["hook_url"]: w for w in data.get("webhooks", [])}
        self.portals = data.get("portals", {})
        self.galleries |= set(data.get("galleries", []))
        self._next_id = data.get("next_id", self._next_id)

    # -- tokens -------------------------------------------------------------------------------

    def token(self, value: str | None) -> Token | None:
        with self.lock:
            token = self.tokens.get(value or "")
            if token and token.expires is not None and token.expires < time.time():
                del self.tokens[token.value]
                return None
            return token

    def temp_token(self, ttl: int, permissions: tuple[str, ...]) -> str:
        value = "tmp" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[value] = Token(value, permissions or ("*",), expires=time.time() + ttl, temp=True)
        return value

    # -- assets -------------------------------------------------------------------------------

    def next_id(self) -> int:
        with self.lock:
            self._next_id += 1
            return self._next_id

    def asset_file(self, rid: str, suffix: str = "") -> Path:
        return self.data_dir / "assets" / f"{rid}{suffix}"

    def create_asset(self, source: Path, filename: str, target: dict[str, Any]) -> tuple[Asset, bool]:
        """
        Turn an assembled file into an asset, or attach it to ``target['rid']``.

        Returns the asset and whether it is new. Hashing streams the file (it may be GBs).
        """
        digest = hashlib.sha256()
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        size = source.stat().st_size
        with self.lock:
            parent = self.assets.get(target.get("rid") or "")
            if parent is not None:
                os.replace(source, self.asset_file(parent.rid, f".{target['type']}"))
                parent.attachments[target["type"]] = {"filename": filename, "size": size, "sha256": digest.hexdigest()}
                parent.modified = now_iso()
                self.save()
                return parent, False
            asset = Asset(
                rid=new_rid(),
                id=self.next_id(),
                filename=filename,
                size=size,
                sha256=digest.hexdigest(),
                type=kind_of(filename),
                gallery=target.get("fid") or None,
            )
            os.replace(source, self.asset_file(asset.rid))
            self.assets[asset.rid] = asset
            self.save()
            return asset, True

    def delete_asset(self, rid: str) -> Asset | None:
        with self.lock:
            asset = self.assets.pop(rid, None)
            if asset:
                for path in self.data_dir.joinpath("assets").glob(f"{rid}*"):
                    path.unlink(missing_ok=True)
                self.save()
            return asset

    def quota_full(self) -> bool:
        limit = self.faults.max_assets
        return limit is not None and len(self.assets) >= int(limit)

    # -- inspection ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                "assets": [asdict(a) for a in self.assets.values()],
                "uploads": [
                    {
                        "unique_id": u.unique_id,
                        "filename": u.filename,
                        "total": u.total,
                        "received": u.received,
                        "bytes_received_total": u.bytes_received_total,
                        "complete": u.final_answer is not None,
                    }
                    for u in self.uploads.values()
                ],
                "url_imports": [
                    {k: v for k, v in imp.items() if not k.startswith("_")} for imp in self.imports.values()
                ],
                "webhooks": [
                    {
                        "hook_url": w["hook_url"],
                        "events": w["events"],
                        "kind": w["kind"],
                        "has_security_key": bool(w.get("security_key")),
                    }
                    for w in self.webhooks.values()
                ],
                "webhook_deliveries": list(self.deliveries),
                "portals": list(self.portals.values()),
                "galleries": sorted(self.galleries),
                "faults": self.faults.describe(),
                "requests": list(self.requests),
            }
