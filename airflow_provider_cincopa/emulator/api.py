"""The REST API v2 method table: each handler takes a :class:`Call` and returns the JSON fields to add."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_provider_cincopa.emulator import api_admin as admin
from airflow_provider_cincopa.emulator import api_assets as assets
from airflow_provider_cincopa.emulator import api_galleries as galleries
from airflow_provider_cincopa.emulator.api_base import Call, HtmlPage, Refused

__all__ = ["METHODS", "Call", "HtmlPage", "Refused", "canonical"]

Handler = Callable[[Call], Any]
METHODS: dict[str, Handler] = {
    "ping": assets.ping,
    "token.get_temp": assets.get_temp,
    "asset.list": assets.asset_list,
    "asset.get_tags": assets.get_tags,
    "asset.set_meta": assets.set_meta,
    "asset.resync": assets.resync,
    "asset.delete": assets.delete,
    "asset.get_upload_url": assets.get_upload_url,
    "asset.upload_from_url": assets.upload_from_url,
    "asset.upload_from_url_get_status": assets.upload_status,
    "asset.upload_from_url_abort": assets.upload_abort,
    "gallery.list": galleries.gallery_list,
    "gallery.create": galleries.gallery_create,
    "gallery.get_items": galleries.gallery_get_items,
    "gallery.add_item": galleries.gallery_add_item,
    "gallery.remove_item": galleries.gallery_remove_item,
    "gallery.set_meta": galleries.gallery_set_meta,
    "gallery.delete": galleries.gallery_delete,
    "upload.get_upload_token": admin.upload_token,
    "upload.iframe": admin.upload_iframe,
    "portal.check": admin.portal_check,
    "portal.cease": admin.portal_cease,
    "portal.rename": admin.portal_rename,
    "portal.remove": admin.portal_remove,
    "portal.set": admin.portal_set,
    "portal.list": admin.portal_list,
    "webhook.list": admin.webhook_list,
    "webhook.set": admin.webhook_set,
    "webhook.set_slack": admin.webhook_set_slack,
    "webhook.delete": admin.webhook_delete,
    # The REST doc spells the delete path this way; clients copying it must work too.
    "webhhook.delete": admin.webhook_delete,
}


def canonical(method: str) -> str:
    """The name permissions are checked against (the misspelled alias is still ``webhook.*``)."""
    return "webhook.delete" if method == "webhhook.delete" else method
