"""Webhook deliveries: JSON POSTs to every matching ``hook_url``, in the background."""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

import httpx

from airflow_provider_cincopa.emulator.state import Asset, EmulatorState, now_iso


def matches(events: str, event: str) -> bool:
    """``*``, a namespace (``asset`` or ``asset.*``) or the exact event."""
    for wanted in (e.strip() for e in (events or "*").split(",")):
        if wanted in ("*", "*(all)", event) or event.split(".")[0] == wanted.rstrip(".*"):
            return True
    return False


def signed(url: str, key: str) -> str:
    # The doc only says the key is "used to hash the URL and append it"; the parameter name and
    # HMAC-SHA256 are our guess.
    signature = hmac.new(key.encode(), url.encode(), hashlib.sha256).hexdigest()
    return url + ("&" if "?" in url else "?") + urlencode({"signature": signature})


def deliver(state: EmulatorState, event: str, asset: Asset) -> None:
    """Send ``event`` about ``asset`` to every matching webhook without blocking the caller."""
    payload: dict[str, Any] = {
        k: v for k, v in asdict(asset).items() if k in ("reference_id", "caption", "filename", "description", "type")
    }
    payload.update(event=event, drid=asset.rid, modified=now_iso())
    with state.lock:
        targets = [dict(w) for w in state.webhooks.values() if matches(w["events"], event)]
    for hook in targets:
        threading.Thread(target=_post, args=(state, hook, event, payload), daemon=True).start()


def _post(state: EmulatorState, hook: dict[str, Any], event: str, payload: dict[str, Any]) -> None:
    url = hook["hook_url"]
    record: dict[str, Any] = {"hook_url": url, "event": event, "drid": payload["drid"]}
    try:
        target = signed(url, hook["security_key"]) if hook.get("security_key") else url
        record["status"] = httpx.post(target, json=payload, timeout=5).status_code
    except Exception as exc:  # a broken receiver must never break the emulator
        record["error"] = type(exc).__name__
    with state.lock:
        state.deliveries.append(record)
