"""
Everything the emulator remembers: tokens, assets (bytes on disk), uploads in progress, URL
imports, webhooks and portals. Thread-safe: uvicorn's loop, hashing threads, URL import threads
and webhook threads all touch it, always under ``state.lock``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict
from pathlib import Path
from typing import Any

from airflow_provider_cincopa.emulator.faults import Faults
from airflow_provider_cincopa.emulator.models import (
    MASTER_PERMISSIONS,
    Asset,
    Gallery,
    Token,
    UploadSession,
    kind_of,
    new_rid,
    now_iso,
)
from airflow_provider_cincopa.emulator.sync import SyncClock

__all__ = ["Asset", "EmulatorState", "Gallery", "QuotaFull", "Token", "UploadSession", "now_iso"]


class QuotaFull(Exception):
    """``max_assets`` is reached: no new asset."""


def digest_file(path: Path) -> tuple[int, str]:
    """Size and sha256 of ``path``, streamed: assets may be GBs and must never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return path.stat().st_size, digest.hexdigest()


class EmulatorState:
    """
    The emulator's memory.

    :param token: the account's api_token (full permissions).
    :param data_dir: where asset files and metadata persist; a temp dir removed at close if None.
    :param galleries: gallery fids that exist from the start (and again after a reset), empty.
    :param extra_tokens: more tokens with limited permissions, ``{token: (permission, ...)}``.
    :param knobs: start-up fault knobs (``latency``, ``bandwidth``, ``max_assets``, ``import_rate``).
    """

    #: Count uploaded bytes but write none (``EmulatorServer(discard_uploads=True)``, benchmarks).
    discard_uploads = False

    def __init__(
        self,
        token: str,
        data_dir: str | os.PathLike[str] | None = None,
        galleries: tuple[str, ...] = (),
        extra_tokens: dict[str, tuple[str, ...]] | None = None,
        knobs: dict[str, Any] | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.faults = Faults(knobs)
        self.sync = SyncClock()
        self.account = {
            "accid": "emulator",
            "accid_num": 1000001,
            "accemail": "owner@example.com",
            "userid": 1,
            "useremail": "owner@example.com",
        }
        self.tokens: dict[str, Token] = {token: Token(token, MASTER_PERMISSIONS)}
        for value, perms in (extra_tokens or {}).items():
            self.tokens[value] = Token(value, tuple(perms))
        # Signs upload URLs. Not persisted: after a restart old upload URLs are refused (403), as
        # their half-received sessions are gone too, so clients start over instead of hanging.
        self.secret = secrets.token_bytes(32)
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="cincopa-emulator-"))
        self._seed_galleries = tuple(galleries)
        self.requests: deque[dict[str, Any]] = deque(maxlen=5000)
        self._next_id = 198_000_000
        self.reset(keep_files=True)
        self._load()

    # -- lifecycle ------------------------------------------------------------------------------

    def reset(self, keep_files: bool = False) -> None:
        with self.lock:
            for record in getattr(self, "imports", {}).values():
                record["_abort"].set()  # a running import must not create an asset after a reset
            self.assets: dict[str, Asset] = {}
            self.uploads: dict[str, UploadSession] = {}
            self.imports: dict[str, dict[str, Any]] = {}
            self.webhooks: dict[str, dict[str, Any]] = {}
            self.deliveries: deque[dict[str, Any]] = deque(maxlen=5000)
            self.portals: dict[str, dict[str, Any]] = {}
            self.galleries: dict[str, Gallery] = {fid: Gallery(fid, name=fid) for fid in self._seed_galleries}
            self.requests.clear()
            self.faults.clear()
            self.sync.clear()
            self.tokens = {k: t for k, t in self.tokens.items() if not t.temp}
            for sub in ("assets", "uploads"):
                if not keep_files:
                    shutil.rmtree(self.data_dir / sub, ignore_errors=True)
                (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
            if not keep_files:
                self.save()

    def close(self) -> None:
        with self.lock:
            for record in self.imports.values():
                record["_abort"].set()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def save(self) -> None:
        """Persist metadata (asset bytes are already on disk); atomic, so a kill never leaves half a file."""
        with self.lock:
            data = {
                "assets": [asdict(a) for a in self.assets.values()],
                "webhooks": list(self.webhooks.values()),
                "portals": self.portals,
                "galleries": [asdict(g) for g in self.galleries.values()],
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
        for g in data.get("galleries", []):  # fids alone in files written before galleries had contents
            gallery = Gallery(g, name=g) if isinstance(g, str) else Gallery(**g)
            self.galleries[gallery.fid] = gallery
        self._next_id = data.get("next_id", self._next_id)

    # -- tokens -------------------------------------------------------------------------------

    def token(self, value: str | None) -> Token | None:
        with self.lock:
            token = self.tokens.get(value or "")
            if token and token.expires is not None and token.expires < time.time():
                del self.tokens[token.value]
                return None
            return token

    def temp_token(self, ttl: int, permissions: tuple[str, ...], sourceip: str | None = None) -> str:
        value = "tmp" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens[value] = Token(value, permissions or ("*",), time.time() + ttl, True, sourceip or None)
        return value

    # -- assets -------------------------------------------------------------------------------

    def asset_file(self, rid: str, suffix: str = "") -> Path:
        return self.data_dir / "assets" / f"{rid}{suffix}"

    def quota_full(self) -> bool:
        limit = self.faults.max_assets
        return limit is not None and len(self.assets) >= limit

    def add_asset(
        self, source: Path, filename: str, target: dict[str, Any], size: int, sha256: str | None = None
    ) -> tuple[Asset, bool]:
        """
        Turn an assembled file into an asset, or attach it to ``target['rid']``.

        ``sha256`` may be left out: :meth:`snapshot` hashes the file when it is first inspected.
        Hashing on the completing chunk cost ~1 s per GiB inside every upload's timing, for a
        figure only tests read (the bytes on disk do not change afterwards).

        Returns the asset and whether it is new. The quota is checked under the lock, so parallel
        completions can never overshoot it.
        """
        with self.lock:
            parent = self.assets.get(target.get("rid") or "")
            if parent is not None:
                os.replace(source, self.asset_file(parent.rid, f".{target['type']}"))
                parent.attachments[target["type"]] = {"filename": filename, "size": size, "sha256": sha256}
                parent.modified = now_iso()
                self.save()
                return parent, False
            if self.quota_full():
                raise QuotaFull("out of assets quota")
            self._next_id += 1
            asset = Asset(new_rid(), self._next_id, filename, size, sha256, kind_of(filename), target.get("fid"))
            os.replace(source, self.asset_file(asset.rid))
            self.assets[asset.rid] = asset
            if asset.gallery and asset.gallery in self.galleries:  # an upload or import into a gallery lands in it
                self.galleries[asset.gallery].items.append(asset.rid)
            self.sync.born(asset.rid)
            self.save()
            return asset, True

    def delete_asset(self, rid: str) -> Asset | None:
        with self.lock:
            asset = self.assets.pop(rid, None)
            if asset:
                for gallery in self.galleries.values():  # "removed also from any gallery" (REST doc)
                    if rid in gallery.items:
                        gallery.items.remove(rid)
                self.sync.forget(rid)
                for path in self.data_dir.joinpath("assets").glob(f"{rid}*"):
                    path.unlink(missing_ok=True)
                self.save()
            return asset

    def sync_status(self, asset: Asset, *, polled: bool = False) -> str:
        """The asset's ``syncstatus`` (``sync.py``); ``polled``: this answer names it by rid."""
        return self.sync.status(asset, self.faults, polled=polled)

    # -- inspection ---------------------------------------------------------------------------

    def _hash_new_files(self) -> None:
        """Fill in the sha256 of assets and attachments not hashed yet, outside the lock (files may be GBs)."""
        with self.lock:
            todo: list[tuple[Asset, dict[str, Any] | None, Path]] = [
                (a, None, self.asset_file(a.rid)) for a in self.assets.values() if a.sha256 is None
            ]
            todo += [
                (a, info, self.asset_file(a.rid, f".{kind}"))
                for a in self.assets.values()
                for kind, info in a.attachments.items()
                if info.get("sha256") is None
            ]
        for asset, attachment, path in todo:
            try:
                _, sha = digest_file(path)
            except FileNotFoundError:
                continue  # deleted or replaced meanwhile: the next snapshot sees the new state
            with self.lock:
                if attachment is not None:
                    attachment["sha256"] = sha  # a replaced attachment is a new dict: this one is just dropped
                elif self.assets.get(asset.rid) is asset:
                    asset.sha256 = sha

    def snapshot(self) -> dict[str, Any]:
        """Everything, for ``/_emulator/state``; hashes files first (call it off the event loop)."""
        self._hash_new_files()
        with self.lock:
            return {
                "assets": [{**asdict(a), "fid": a.gallery} for a in self.assets.values()],
                "uploads": [
                    {
                        "unique_id": u.unique_id,
                        "filename": u.filename,
                        "total": u.total,
                        "received": u.received,
                        "bytes_received_total": u.bytes_received_total,
                        "complete": u.final_answer is not None,
                        "rid": u.rid,
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
                "gallery_contents": {g.fid: asdict(g) for g in self.galleries.values()},
                "data_dir": str(self.data_dir),
                "faults": self.faults.describe(),
                "requests": list(self.requests),
            }
