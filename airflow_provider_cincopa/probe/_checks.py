"""
The probe's read-only checks: each asks the API once and compares the answer with what the
provider assumes (docs/api-coverage.md). Evidence names fields and shapes, never account data
beyond what a bug report needs.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.exceptions import (
    CincopaApiError,
    CincopaAuthError,
    CincopaResponseError,
    CincopaUploadError,
)
from airflow_provider_cincopa.probe.report import CONFIRMED, CONTRADICTED, ERROR, NOT_CHECKED, Finding

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

#: A check's verdict and its evidence.
Verdict = tuple[str, str]


def attempt(row: str, assumption: str, check: Callable[[], Verdict]) -> Finding:
    """
    Run one check; an exception becomes its finding.

    A 403 means the token may not call the method (not checked); a refusal (the upload host's
    too) or an answer the hook could not read contradicts the assumption; anything else (network)
    is a probe error.
    """
    try:
        status, evidence = check()
    except CincopaAuthError as exc:
        status, evidence = NOT_CHECKED, f"the token may not call it (HTTP 403): {exc}"
    except (CincopaApiError, CincopaResponseError, CincopaUploadError) as exc:
        status, evidence = CONTRADICTED, f"{type(exc).__name__}: {exc}"
    except Exception as exc:
        status, evidence = ERROR, f"{type(exc).__name__}: {exc}"
    return Finding(row, assumption, status, evidence)


def verdict(holds: bool, evidence: str) -> Verdict:
    return (CONFIRMED if holds else CONTRADICTED), evidence


def fields(value: Any) -> str:
    """The keys of an answer or item, sorted: what a report shows instead of their values."""
    return str(sorted(value)) if isinstance(value, dict) else f"not an object ({type(value).__name__})"


def kind(value: Any) -> str:
    """A JSON value's kind: object, array, string, or its Python type's name."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return "string" if isinstance(value, str) else type(value).__name__


#: tag_cloud lists the reader accepts, by the kind of their items (docs/api-coverage.md).
TAG_LIST_SHAPES = {"string": "names", "object": "objects", "array": "pairs"}


def check_ping(hook: CincopaHook) -> Verdict:
    answer = hook.call("ping")
    permissions = answer.get("permissions")
    holds = "accid" in answer and ("useremail" in answer or "accemail" in answer)
    holds = holds and isinstance(permissions, str) and "|" in permissions
    return verdict(holds, f"answer fields {fields(answer)}; permissions {permissions!r}")


def check_asset_list(hook: CincopaHook) -> Verdict:
    answer = hook.call("asset.list", {"page": 1, "items_per_page": 1})
    items, paging = answer.get("items"), answer.get("items_data")
    evidence = f"answer fields {fields(answer)}; items_data fields {fields(paging)}"
    if not isinstance(items, list) or not isinstance(paging, dict) or "pages_count" not in paging:
        return CONTRADICTED, evidence
    if not items:
        return CONFIRMED, evidence + "; the account has no asset, so item fields were not seen"
    item = items[0]
    versions = item.get("versions")
    shape = {"object": "mapping", "array": "list"}.get(kind(versions), kind(versions))
    entries = list(versions.values()) if isinstance(versions, dict) else versions if isinstance(versions, list) else []
    readable = all(isinstance(v, dict) and "url" in v for v in entries)
    evidence += f"; item fields {fields(item)}; versions as a {shape} of {len(entries)}"
    if entries:
        evidence += f", first version's fields {fields(entries[0])}"
    holds = all(k in item for k in ("rid", "type", "syncstatus", "versions")) and shape in ("mapping", "list")
    return verdict(holds and readable, evidence)


def check_get_tags(hook: CincopaHook) -> Verdict:
    cloud = hook.call("asset.get_tags").get("tag_cloud")
    if isinstance(cloud, dict):
        shape = "mapping"
    elif isinstance(cloud, list) and cloud:
        first = cloud[0]
        shape = TAG_LIST_SHAPES.get(kind(first), f"list of {kind(first)}")
    else:
        return NOT_CHECKED, f"tag_cloud is {cloud!r}: no tag to show its shape"
    count = len(cloud)
    return verdict(shape in ("mapping", "names", "objects", "pairs"), f"tag_cloud: {shape} of {count}")


def check_portal_check(hook: CincopaHook) -> Verdict:
    subdomain = f"airflow-probe-{secrets.token_hex(4)}"
    answer = hook.call("portal.check", {"subdomain": subdomain})
    available = answer.get("available")
    return verdict(
        "available" in answer, f"subdomain={subdomain}: answer fields {fields(answer)}, available={available!r}"
    )


def check_portal_list(hook: CincopaHook) -> Verdict:
    answer = hook.call("portal.list")
    portals = answer.get("portals")
    count = len(portals) if isinstance(portals, list) else None
    return verdict(isinstance(portals, list), f"answer fields {fields(answer)}; portals: {count} listed")


def check_webhook_list(hook: CincopaHook) -> Verdict:
    answer = hook.call("webhook.list")
    hooks = answer.get("webhooks")
    if not isinstance(hooks, list):
        return CONTRADICTED, f"answer fields {fields(answer)}: no webhooks list"
    if not hooks:
        return NOT_CHECKED, "the webhooks list is empty: register one to see the items' shape"
    if all(isinstance(h, dict) and "hook_url" in h for h in hooks):
        return CONFIRMED, f"{len(hooks)} webhook objects, fields {fields(hooks[0])}"
    if all(isinstance(h, list) for h in hooks):
        url_first = all(any(isinstance(v, str) and "://" in v for v in h) for h in hooks)
        return verdict(url_first, f"{len(hooks)} webhook arrays of {[len(h) for h in hooks]} elements")
    return CONTRADICTED, f"webhook items of types {sorted({type(h).__name__ for h in hooks})}"


def first_gallery(hook: CincopaHook) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """``gallery.list``'s first page of one, and its first gallery (None for an account without)."""
    answer = hook.call("gallery.list", {"page": 1, "items_per_page": 1})
    galleries = answer.get("galleries")
    return answer, (galleries[0] if isinstance(galleries, list) and galleries else None)


def check_gallery_list(hook: CincopaHook) -> Verdict:
    answer, gallery = first_gallery(hook)
    paging = answer.get("items_data")
    evidence = f"answer fields {fields(answer)}; items_data fields {fields(paging)}"
    if not isinstance(answer.get("galleries"), list):
        return CONTRADICTED, evidence
    if gallery is None:
        return CONFIRMED, evidence + "; the account has no gallery, so item fields were not seen"
    return verdict("fid" in gallery and "name" in gallery, evidence + f"; gallery fields {fields(gallery)}")


def check_gallery_items(hook: CincopaHook) -> Verdict:
    _, gallery = first_gallery(hook)
    if gallery is None or not gallery.get("fid"):
        return NOT_CHECKED, "the account has no gallery to list"
    answer = hook.call("gallery.get_items", {"fid": gallery["fid"], "page": 1, "items_per_page": 1})
    folder = answer.get("folder")
    items = folder.get("items") if isinstance(folder, dict) else None
    evidence = f"answer fields {fields(answer)}; folder fields {fields(folder)}"
    return verdict(isinstance(items, list), evidence)


#: (row of docs/api-coverage.md, assumption, check): what the probe asks in every mode.
READ_ONLY_CHECKS: list[tuple[str, str, Callable[[CincopaHook], Verdict]]] = [
    ("ping", "answers accid, useremail or accemail, and permissions as a pipe string", check_ping),
    (
        "asset.list",
        "answers items[] (rid, type, syncstatus, versions as a mapping or list of objects with url) and "
        "items_data.pages_count",
        check_asset_list,
    ),
    ("asset.get_tags", "tag_cloud is a mapping, or a list of names, objects or pairs", check_get_tags),
    ("portal.check", "takes `subdomain` and answers `available`", check_portal_check),
    ("portal.list", "answers `portals` as a list", check_portal_list),
    ("webhook.list", "answers `webhooks`: objects with hook_url, or arrays led by the URL", check_webhook_list),
    ("gallery.list", "answers galleries[] with fid and name, paged", check_gallery_list),
    ("gallery.get_items", "takes fid and answers folder.items[]", check_gallery_items),
]
