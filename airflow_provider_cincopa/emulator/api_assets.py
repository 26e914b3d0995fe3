"""API methods on the account and its assets: ``ping``, ``token.*``, ``asset.*``."""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from collections import Counter
from typing import Any
from urllib.parse import urlencode, urlsplit

from airflow_provider_cincopa.emulator import cdn, url_import, webhooks
from airflow_provider_cincopa.emulator.api_base import (
    META,
    Call,
    Refused,
    find_asset,
    need,
    positive_int,
    sign,
    target,
)
from airflow_provider_cincopa.emulator.models import mime_of
from airflow_provider_cincopa.emulator.state import Asset, now_iso
from airflow_provider_cincopa.emulator.sync import SYNCED


def ping(c: Call) -> dict[str, Any]:
    perms = "|" + "|".join(c.token.permissions) + "|"
    return {**c.state.account, "permissions": perms, "ip": c.client_ip, "ping": "pong"}


def get_temp(c: Call) -> dict[str, Any]:
    ttl = positive_int(c.params, "ttl", 3600)
    # Pipe-separated like ping's answer; commas accepted too, as the format is not documented.
    wanted = tuple(p.strip() for p in re.split(r"[|,]", c.params.get("permissions") or "") if p.strip())
    # A temp token can never do more than the token that made it.
    perms = tuple(p for p in wanted if p in c.token.permissions or c.token.allows(p)) if wanted else c.token.permissions
    return {"token": c.state.temp_token(ttl, perms or ("ping",), c.params.get("sourceip"))}


def asset_item(c: Call, asset: Asset, syncstatus: str = SYNCED) -> dict[str, Any]:
    """One ``items[]`` entry, shaped like the ``asset.list`` example in Cincopa's docs."""
    versions = cdn.versions(c.state, asset, c.base, syncstatus)
    url = versions["original"]["url"]
    item: dict[str, Any] = {"id": str(asset.id), "rid": asset.rid, "type": asset.type, "modified": asset.modified}
    item.update(storage=str(asset.size), claimed=str(asset.size), syncstatus=syncstatus, filename=asset.filename)
    item.update({k: getattr(asset, k) for k in META}, filesize=asset.size, attributes="", versions=versions)
    item["content"] = {"syncstatus": syncstatus, "type": mime_of(asset.filename), "url": url}
    return item


def asset_list(c: Call) -> dict[str, Any]:
    p = c.params
    page = positive_int(p, "page", 1)
    per_page = min(500, positive_int(p, "items_per_page", 50))
    with c.state.lock:
        # Newest first (by the numeric id, which grows with each upload). Cincopa does not document
        # asset.list's order: this is a guess (its dashboard lists new uploads first), and the
        # asset event trigger checks the order it gets rather than trusting it.
        items = sorted(c.state.assets.values(), key=lambda a: a.id, reverse=True)
    wanted: set[str] = set()
    if p.get("rid"):
        wanted = {r.strip() for r in p["rid"].split(",")}
        items = [a for a in items if a.rid in wanted]
    if p.get("search"):
        needle = p["search"].lower()
        items = [a for a in items if needle in f"{a.caption}\n{a.filename}\n{a.description}".lower()]
    if p.get("tag"):
        items = [a for a in items if p["tag"].strip() in (t.strip() for t in a.tags.split(","))]
    if p.get("type"):
        items = [a for a in items if a.type == p["type"]]
    if p.get("reference_id"):
        items = [a for a in items if a.reference_id == p["reference_id"]]
    pages = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    return {
        "items": [asset_item(c, a, c.state.sync_status(a, polled=a.rid in wanted)) for a in chunk],
        "items_data": {"page": page, "items_per_page": per_page, "items_count": len(items), "pages_count": pages},
    }


def get_tags(c: Call) -> dict[str, Any]:
    with c.state.lock:
        cloud = Counter(t.strip() for a in c.state.assets.values() for t in a.tags.split(",") if t.strip())
    shape = c.state.faults.shape_of("asset.get_tags")
    if shape == "names":
        return {"tag_cloud": list(cloud)}
    if shape == "objects":
        return {"tag_cloud": [{"tag": tag, "count": str(count)} for tag, count in cloud.items()]}
    if shape == "pairs":
        return {"tag_cloud": [[tag, count] for tag, count in cloud.items()]}
    return {"tag_cloud": dict(cloud)}


def set_meta(c: Call) -> dict[str, Any]:
    asset = find_asset(c.state, c.params)
    with c.state.lock:
        for key in META:
            if key in c.params:
                setattr(asset, key, c.params[key])
        asset.modified = now_iso()
        c.state.save()
    webhooks.deliver(c.state, "asset.updated", asset)
    return {}


def resync(c: Call) -> dict[str, Any]:
    # A resync starts making versions again: the sync_* knobs apply afresh.
    c.state.sync.born(find_asset(c.state, c.params).rid)
    return {}


def delete(c: Call) -> dict[str, Any]:
    asset = c.state.delete_asset(find_asset(c.state, c.params).rid)
    if asset is None:  # deleted by a parallel call meanwhile
        raise Refused(f"asset not found: rid={c.params['rid']}")
    webhooks.deliver(c.state, "asset.deleted", asset)
    return {}


def get_upload_url(c: Call) -> dict[str, Any]:
    where = target(c.state, c.params)
    # `d` is opaque to clients; ours carries the target, an expiry and the allowed IP, and `hash`
    # signs it, so a client cannot redirect an upload by editing the URL.
    ttl = positive_int(c.params, "ttl", 0)  # none: the URL does not expire
    claims = {**where, "exp": time.time() + ttl if ttl else None, "ip": c.params.get("sourceip") or None}
    d = secrets.token_urlsafe(9) + "." + json.dumps(claims, separators=(",", ":")).encode().hex()
    query = {"uid": c.state.account["accid"], "d": d, "hash": sign(c.state, d), "addtofid": where["fid"] or "0"}
    return {"upload_url": f"{c.base}/upload/post.jpg?{urlencode(query)}"}


def upload_from_url(c: Call) -> dict[str, Any]:
    source = need(c.params, "input")
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"input must be an http(s) URL: {source}")
    return {"status_id": url_import.start(c.state, source, target(c.state, c.params))}


def _import(c: Call) -> dict[str, Any]:
    status_id = need(c.params, "status_id")
    with c.state.lock:
        record = c.state.imports.get(status_id)
    if record is None:
        raise Refused(f"status_id not found: {status_id}")
    return record


def upload_status(c: Call) -> dict[str, Any]:
    return url_import.status(_import(c))


def upload_abort(c: Call) -> dict[str, Any]:
    record = _import(c)
    url_import.abort(c.state, record)
    return {"status_id": record["status_id"]}
