"""The REST API v2 methods: each takes the query parameters and returns the JSON fields to add."""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import math
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode, urlsplit

from airflow_provider_cincopa.emulator import url_import, webhooks
from airflow_provider_cincopa.emulator.state import Asset, EmulatorState, Token, now_iso

Params = dict[str, str]
META = ("caption", "description", "long_description", "related_link_text", "related_link_url", "reference_id", "tags")


class Refused(Exception):
    """Answered as HTTP 200 ``{"success": false, "message": ...}``, as Cincopa does."""


class HtmlPage(str):
    """A method that answers HTML rather than JSON (``upload.iframe``)."""


def _need(params: Params, name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise Refused(f"missing required parameter: {name}")
    return value


def _asset(state: EmulatorState, params: Params) -> Asset:
    rid = _need(params, "rid")
    asset = state.assets.get(rid)
    if asset is None:
        raise Refused(f"asset not found: rid={rid}")
    return asset


def _gallery(state: EmulatorState, params: Params) -> str | None:
    fid = params.get("fid") or None
    if fid and fid not in state.galleries:
        raise Refused(f"gallery not found: fid={fid}")
    return fid


def _target(state: EmulatorState, params: Params) -> dict[str, Any]:
    fid = _gallery(state, params)
    rid, kind = params.get("rid") or None, params.get("type") or None
    if rid:
        _asset(state, params)
        if not kind:
            raise Refused("attaching to an asset needs a type, e.g. type=thumb")
    return {"fid": fid, "rid": rid, "type": kind}


def ping(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    return {**state.account, "permissions": "|" + "|".join(token.permissions) + "|", "ip": "127.0.0.1", "ping": "pong"}


def get_temp(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    ttl = int(params.get("ttl") or 3600)
    perms = tuple(p for p in (params.get("permissions") or "").split("|") if p)
    return {"token": state.temp_token(ttl, perms)}


def asset_item(asset: Asset) -> dict[str, Any]:
    item = asdict(asset)
    item.update(
        id=str(asset.id),
        filesize=asset.size,
        storage=str(asset.size),
        syncstatus="synced",
        versions={
            "original": {
                "name": "original",
                "filesize": asset.size,
                "mime": "video/mp4",
                "url": f"https://cdn.emulator.invalid/{asset.rid}/{asset.filename}",
            }
        },
    )
    for key in ("size", "sha256", "gallery", "attachments"):
        item.pop(key)
    return item


def asset_list(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    page = max(1, int(params.get("page") or 1))
    per_page = min(500, max(1, int(params.get("items_per_page") or 50)))
    items = list(state.assets.values())
    if params.get("rid"):
        wanted = set(params["rid"].split(","))
        items = [a for a in items if a.rid in wanted]
    if params.get("search"):
        needle = params["search"].lower()
        items = [a for a in items if needle in f"{a.caption} {a.filename} {a.description}".lower()]
    if params.get("tag"):
        items = [a for a in items if params["tag"] in a.tags.split(",")]
    if params.get("type"):
        items = [a for a in items if a.type == params["type"]]
    if params.get("reference_id"):
        items = [a for a in items if a.reference_id == params["reference_id"]]
    pages = max(1, math.ceil(len(items) / per_page))
    chunk = items[(page - 1) * per_page : page * per_page]
    return {
        "items": [asset_item(a) for a in chunk],
        "items_data": {"page": page, "items_per_page": per_page, "items_count": len(items), "pages_count": pages},
    }


def get_tags(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    cloud = Counter(t for a in state.assets.values() for t in a.tags.split(",") if t)
    return {"tag_cloud": dict(cloud)}


def set_meta(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    asset = _asset(state, params)
    with state.lock:
        for key in META:
            if key in params:
                setattr(asset, key, params[key])
        asset.modified = now_iso()
        state.save()
    webhooks.deliver(state, "asset.updated", asset)
    return {}


def resync(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    _asset(state, params)
    return {}


def delete(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    asset = state.delete_asset(_asset(state, params).rid)
    if asset:
        webhooks.deliver(state, "asset.deleted", asset)
    return {}


def sign(state: EmulatorState, d: str) -> str:
    return hmac.new(state.secret, d.encode(), hashlib.sha256).hexdigest()


def get_upload_url(state: EmulatorState, params: Params, token: Token, base: str = "") -> dict[str, Any]:
    target = _target(state, params)
    d = secrets.token_urlsafe(9) + "." + json.dumps(target, separators=(",", ":")).encode().hex()
    query = {"uid": state.account["accid"], "d": d, "hash": sign(state, d), "addtofid": target["fid"] or "0"}
    return {"upload_url": f"{base}/upload/post.jpg?{urlencode(query)}"}


def upload_from_url(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    source = _need(params, "input")
    parts = urlsplit(source)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Refused(f"input must be an http(s) URL: {source}")
    return {"status_id": url_import.start(state, source, _target(state, params))}


def _import(state: EmulatorState, params: Params) -> dict[str, Any]:
    status_id = _need(params, "status_id")
    record = state.imports.get(status_id)
    if record is None:
        raise Refused(f"status_id not found: {status_id}")
    return record


def upload_status(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    return url_import.status(_import(state, params))


def upload_abort(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    record = _import(state, params)
    url_import.abort(record)
    return {"status_id": record["status_id"]}


def upload_token(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    _gallery(state, params)
    return {"token": state.temp_token(int(params.get("ttl") or 3600), ("upload.iframe",))}


def upload_iframe(state: EmulatorState, params: Params, token: Token) -> HtmlPage:
    if not (params.get("fid") or params.get("rrid")):
        raise Refused("upload.iframe needs fid or rrid")
    which = html.escape(params.get("fid") or params.get("rrid") or "")
    return HtmlPage(f"<!doctype html><html><body><h1>Upload to {which}</h1><input type=file></body></html>")


# Portal parameter names are not documented; `subdomain` / `new_subdomain` are our guess.
def portal_check(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    return {"available": _need(params, "subdomain") not in state.portals}


def portal_cease(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    sub = _need(params, "subdomain")
    with state.lock:
        if sub in state.portals:
            raise Refused(f"subdomain is taken: {sub}")
        state.portals[sub] = {"subdomain": sub, "settings": {}}
    return {"subdomain": sub}


def _portal(state: EmulatorState, params: Params) -> dict[str, Any]:
    sub = _need(params, "subdomain")
    if sub not in state.portals:
        raise Refused(f"portal not found: {sub}")
    return state.portals[sub]


def portal_rename(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    portal, new = _portal(state, params), _need(params, "new_subdomain")
    with state.lock:
        if new in state.portals:
            raise Refused(f"subdomain is taken: {new}")
        del state.portals[portal["subdomain"]]
        portal["subdomain"] = new
        state.portals[new] = portal
    return {"subdomain": new}


def portal_remove(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    with state.lock:
        del state.portals[_portal(state, params)["subdomain"]]
    return {}


def portal_set(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    sub = _need(params, "subdomain")
    with state.lock:
        portal = state.portals.setdefault(sub, {"subdomain": sub, "settings": {}})
        portal["settings"].update({k: v for k, v in params.items() if k != "subdomain"})
    return {"portal": portal}


def portal_list(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    return {"portals": list(state.portals.values())}


def webhook_list(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    # The security key is never echoed back.
    return {"webhooks": [{k: v for k, v in w.items() if k != "security_key"} for w in state.webhooks.values()]}


def webhook_set(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    url, key = _need(params, "hook_url"), _need(params, "security_key")
    with state.lock:
        state.webhooks[url] = {
            "hook_url": url,
            "events": params.get("events") or "*",
            "security_key": key,
            "kind": "http",
        }
        state.save()
    return {}


def webhook_set_slack(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    url, channel = _need(params, "hook_url"), _need(params, "slack_channel")
    with state.lock:
        state.webhooks[url] = {
            "hook_url": url,
            "events": params.get("events") or "*",
            "kind": "slack",
            "slack_channel": channel,
            "slack_username": params.get("slack_username") or "cincopa_bot",
            "slack_icon": params.get("slack_icon") or "",
        }
        state.save()
    return {}


def webhook_delete(state: EmulatorState, params: Params, token: Token) -> dict[str, Any]:
    url = _need(params, "hook_url")
    with state.lock:
        if state.webhooks.pop(url, None) is None:
            raise Refused(f"webhook not found: {url}")
        state.save()
    return {}


Handler = Callable[..., Any]
METHODS: dict[str, Handler] = {
    "ping": ping,
    "token.get_temp": get_temp,
    "asset.list": asset_list,
    "asset.get_tags": get_tags,
    "asset.set_meta": set_meta,
    "asset.resync": resync,
    "asset.delete": delete,
    "asset.get_upload_url": get_upload_url,
    "asset.upload_from_url": upload_from_url,
    "asset.upload_from_url_get_status": upload_status,
    "asset.upload_from_url_abort": upload_abort,
    "upload.get_upload_token": upload_token,
    "upload.iframe": upload_iframe,
    "portal.check": portal_check,
    "portal.cease": portal_cease,
    "portal.rename": portal_rename,
    "portal.remove": portal_remove,
    "portal.set": portal_set,
    "portal.list": portal_list,
    "webhook.list": webhook_list,
    "webhook.set": webhook_set,
    "webhook.set_slack": webhook_set_slack,
    "webhook.delete": webhook_delete,
    # The REST doc's spelling of the delete path.
    "webhhook.delete": webhook_delete,
}
