"""What every API method shares: the call context, refusals, parameter checks, URL signing."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any

from airflow_provider_cincopa.emulator.state import Asset, EmulatorState, Token

Params = dict[str, str]
META = ("caption", "description", "long_description", "related_link_text", "related_link_url", "reference_id", "tags")
#: Attachment types become file-name suffixes on disk: no path tricks.
ATTACH_TYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass
class Call:
    """One API call: the state, its parameters, the caller's token and where it came from."""

    state: EmulatorState
    params: Params
    token: Token
    base: str = "http://127.0.0.1"
    client_ip: str = "127.0.0.1"


class Refused(Exception):
    """Answered as HTTP 200 ``{"success": false, "message": ...}``, as Cincopa does."""


class HtmlPage(str):
    """A method that answers HTML rather than JSON (``upload.iframe``)."""


def need(params: Params, name: str) -> str:
    value = params.get(name, "").strip()
    if not value:
        raise Refused(f"missing required parameter: {name}")
    return value


def positive_int(params: Params, name: str, default: int) -> int:
    raw = params.get(name) or ""
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise Refused(f"bad parameter: {name} must be a positive integer, got {raw!r}")
    return int(raw)


def find_asset(state: EmulatorState, params: Params) -> Asset:
    rid = need(params, "rid")
    with state.lock:
        asset = state.assets.get(rid)
    if asset is None:
        raise Refused(f"asset not found: rid={rid}")
    return asset


def gallery(state: EmulatorState, params: Params) -> str | None:
    fid = params.get("fid") or None
    if fid and fid not in state.galleries:
        raise Refused(f"gallery not found: fid={fid}")
    return fid


def target(state: EmulatorState, params: Params) -> dict[str, Any]:
    """Where a new file goes: a gallery (``fid``) and/or attached to an asset (``rid`` + ``type``)."""
    fid = gallery(state, params)
    rid, kind = params.get("rid") or None, params.get("type") or None
    if rid:
        find_asset(state, params)
        if not kind:
            raise Refused("attaching to an asset needs a type, e.g. type=thumb")
        if not ATTACH_TYPE.fullmatch(kind):
            raise Refused(f"bad parameter: type {kind!r} must be letters, digits, '-' or '_'")
    return {"fid": fid, "rid": rid, "type": kind if rid else None}


def sign(state: EmulatorState, d: str) -> str:
    """The ``hash`` of an upload URL: binds its opaque ``d`` to this emulator's secret."""
    return hmac.new(state.secret, d.encode(), hashlib.sha256).hexdigest()
