"""Webhook deliveries: JSON POSTs to every matching ``hook_url``, in the background."""

from __future__ import annotations

import hashlib
import hmac
import threading
from typing import Any
from urllib.parse import urlencode

import httpx

from airflow_provider_cincopa.emulator.state import Asset, EmulatorState

TIMEOUT = 5.0


def matches(events: str, event: str) -> bool:
    """``*`` (the doc's default ``*(all)``), a namespace (``asset`` or ``asset.*``) or the exact event."""
    for wanted in (e.strip() for e in (events or "*").split(",")):
        if wanted in ("*", "*(all)", event) or event.split(".")[0] == wanted.removesuffix(".*"):
            return True
    return False


def signed(url: str, key: str) -> str:
    # The doc only says the key is "used to hash the URL and append it when calling the hook_url";
    # the parameter name `signature` and HMAC-SHA256 over the bare hook_url are our guess.
    signature = hmac.new(key.encode(), url.encode(), hashlib.sha256).hexdigest()
    return url + ("&" if "?" in url else "?") + urlencode({"signature": signature})


def payload_for(event: str, asset: Asset) -> dict[str, Any]:
    return {
        "event": event,
        "drid": asset.rid,
        "reference_id": asset.reference_id,
        "caption": asset.caption,
        "filename": asset.filename,
        "description": asset.description,
        "type": asset.type,
        "modified": asset.modified,
    }


def deliver(state: EmulatorState, event: str, asset: Asset) -> None:
    """Send ``event`` about ``asset`` to every matching webhook without blocking the caller."""
    payload = payload_for(event, asset)
    with state.lock:
        targets = [dict(w) for w in state.webhooks.values() if matches(w["events"], event)]
    for hook in targets:
        threading.Thread(target=_post, args=(state, hook, payload), daemon=True, name="cincopa-webhook").start()


def _post(state: EmulatorState, hook: dict[str, Any], payload: dict[str, Any]) -> None:
    url = hook["hook_url"]
    record: dict[str, Any] = {"hook_url": url, "event": payload["event"], "drid": payload["drid"]}
    body = payload
    if hook.get("kind") == "slack":
        # Slack's incoming webhooks want text; keep the fields too for receivers that read them.
        text = f"{payload['event']}: {payload['filename']} ({payload['drid']})"
        body = {**payload, "text": text, "channel": hook["slack_channel"], "username": hook["slack_username"]}
        if hook.get("slack_icon"):
            body["icon_emoji"] = hook["slack_icon"]
    try:
        target = signed(url, hook["security_key"]) if hook.get("security_key") else url
        record["status"] = httpx.post(target, json=body, timeout=TIMEOUT).status_code
    except Exception as exc:  # a broken receiver must never break the emulator
        record["status"] = None
        record["error"] = f"{type(exc).__name__}: {exc}"
    with state.lock:
        state.deliveries.append(record)
