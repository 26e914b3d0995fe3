"""API methods around the assets: ``upload.*`` pages, ``portal.*`` and ``webhook.*``."""

from __future__ import annotations

import html
from typing import Any

from airflow_provider_cincopa.emulator.api_base import Call, HtmlPage, Refused, gallery, need, positive_int


def upload_token(c: Call) -> dict[str, Any]:
    gallery(c.state, c.params)
    return {"token": c.state.temp_token(positive_int(c.params, "ttl", 3600), ("upload.iframe",))}


def upload_iframe(c: Call) -> HtmlPage:
    which = c.params.get("fid") or c.params.get("rrid")
    if not which:
        raise Refused("upload.iframe needs fid or rrid")
    if c.params.get("fid"):
        gallery(c.state, c.params)
    name = html.escape(which)
    return HtmlPage(
        "<!doctype html><html><head><title>Cincopa upload</title></head><body>"
        f"<h1>Upload to {name}</h1><form method=post enctype=multipart/form-data>"
        "<input type=file name=file multiple></form></body></html>"
    )


# Portal parameter names are not documented: `subdomain` and `new_subdomain` are our guess.
def _portal(c: Call) -> dict[str, Any]:
    sub = need(c.params, "subdomain")
    portal = c.state.portals.get(sub)
    if portal is None:
        raise Refused(f"portal not found: subdomain={sub}")
    return portal


def portal_check(c: Call) -> dict[str, Any]:
    return {"available": need(c.params, "subdomain") not in c.state.portals}


def portal_cease(c: Call) -> dict[str, Any]:
    # The doc titles this "Create subdomain if available" (its text says "deactivates"): we create.
    sub = need(c.params, "subdomain")
    with c.state.lock:
        if sub in c.state.portals:
            raise Refused(f"subdomain is taken: {sub}")
        c.state.portals[sub] = {"subdomain": sub, "settings": {}}
        c.state.save()
    return {"subdomain": sub}


def portal_rename(c: Call) -> dict[str, Any]:
    new = need(c.params, "new_subdomain")
    with c.state.lock:
        portal = _portal(c)
        if new in c.state.portals:
            raise Refused(f"subdomain is taken: {new}")
        del c.state.portals[portal["subdomain"]]
        portal["subdomain"] = new
        c.state.portals[new] = portal
        c.state.save()
    return {"subdomain": new}


def portal_remove(c: Call) -> dict[str, Any]:
    with c.state.lock:
        del c.state.portals[_portal(c)["subdomain"]]
        c.state.save()
    return {}


def portal_set(c: Call) -> dict[str, Any]:
    sub = need(c.params, "subdomain")
    with c.state.lock:
        portal = c.state.portals.setdefault(sub, {"subdomain": sub, "settings": {}})
        portal["settings"].update({k: v for k, v in c.params.items() if k != "subdomain"})
        c.state.save()
    return {"portal": portal}


def portal_list(c: Call) -> dict[str, Any]:
    with c.state.lock:
        return {"portals": list(c.state.portals.values())}


def webhook_list(c: Call) -> dict[str, Any]:
    # The security key is a shared secret: never echoed back.
    with c.state.lock:
        hooks = [{k: v for k, v in w.items() if k != "security_key"} for w in c.state.webhooks.values()]
    if c.state.faults.shape_of("webhook.list") == "arrays":
        # The REST doc's "Array of arrays"; which element sits where is our guess.
        fields = ("hook_url", "events", "kind", "slack_channel", "slack_username", "slack_icon")
        return {"webhooks": [[w[k] for k in fields if k in w] for w in hooks]}
    return {"webhooks": hooks}


def _save_hook(c: Call, hook: dict[str, Any]) -> dict[str, Any]:
    with c.state.lock:
        c.state.webhooks[hook["hook_url"]] = hook  # the same hook_url updates, as the doc says
        c.state.save()
    return {}


def webhook_set(c: Call) -> dict[str, Any]:
    url, key = need(c.params, "hook_url"), need(c.params, "security_key")
    return _save_hook(
        c, {"hook_url": url, "events": c.params.get("events") or "*", "security_key": key, "kind": "http"}
    )


def webhook_set_slack(c: Call) -> dict[str, Any]:
    hook = {
        "hook_url": need(c.params, "hook_url"),
        "events": c.params.get("events") or "*",
        "kind": "slack",
        "slack_channel": need(c.params, "slack_channel"),
        "slack_username": c.params.get("slack_username") or "cincopa_bot",
        "slack_icon": c.params.get("slack_icon") or "",
    }
    return _save_hook(c, hook)


def webhook_delete(c: Call) -> dict[str, Any]:
    url = need(c.params, "hook_url")
    with c.state.lock:
        if c.state.webhooks.pop(url, None) is None:
            raise Refused(f"webhook not found: hook_url={url}")
        c.state.save()
    return {}
