"""
API methods on galleries: ``gallery.list``, ``create``, ``get_items``, ``add_item``,
``remove_item``, ``set_meta`` and ``delete``.

The reference documents none of their parameters or answers; the shapes follow the public
clients listed in :mod:`airflow_provider_cincopa.hooks._galleries`. Where those say nothing
(duplicates on ``add_item``, removing an asset that is not in the gallery, ``set_meta`` fields)
the behaviour here is our guess and says so.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from airflow_provider_cincopa.emulator import api_assets
from airflow_provider_cincopa.emulator.api_base import Call, Refused, gallery, need, positive_int
from airflow_provider_cincopa.emulator.models import Gallery, new_rid, now_iso

#: What ``gallery.set_meta`` takes here (guess, as in the hook).
GALLERY_META = ("name", "description", "tags")


def _find(c: Call) -> Gallery:
    fid = need(c.params, "fid")
    gallery(c.state, c.params)  # refuses an unknown fid as asset.get_upload_url does
    with c.state.lock:
        return c.state.galleries[fid]


def _upload_url(c: Call, fid: str) -> str:
    # The same signed URL asset.get_upload_url hands out for this gallery (media-platform page:
    # "use the upload_url returned from the gallery.list.json command").
    return str(api_assets.get_upload_url(replace(c, params={"fid": fid}))["upload_url"])


def _rids(c: Call) -> list[str]:
    rids = [r.strip() for r in need(c.params, "rid").split(",") if r.strip()]
    with c.state.lock:
        unknown = [r for r in rids if r not in c.state.assets]
    if unknown:  # nothing is changed when one rid is wrong
        raise Refused(f"asset not found: rid={','.join(unknown)}")
    return rids


def _page(c: Call, total: int) -> tuple[int, int, int]:
    page = positive_int(c.params, "page", 1)
    per_page = min(500, positive_int(c.params, "items_per_page", 50))
    return page, per_page, max(1, math.ceil(total / per_page))


def _matches(g: Gallery, search: str) -> bool:
    # `field=value` is an exact match on that field (Cincopa's Moodle plugin finds its gallery
    # with search=caption=<name>; caption is the gallery's name there); anything else a substring.
    key, sep, value = search.partition("=")
    if sep and key.strip().lower() in ("caption", "name"):
        return g.name == value
    if sep and key.strip().lower() == "description":
        return g.description == value
    return search.lower() in f"{g.name}\n{g.description}".lower()


def gallery_list(c: Call) -> dict[str, Any]:
    with c.state.lock:
        galleries = list(c.state.galleries.values())
    if c.params.get("search"):
        galleries = [g for g in galleries if _matches(g, c.params["search"])]
    wanted = {t.strip() for t in (c.params.get("filter_tags") or "").split(",") if t.strip()}
    if wanted:
        galleries = [g for g in galleries if wanted & {t.strip() for t in g.tags.split(",")}]
    page, per_page, pages = _page(c, len(galleries))
    chunk = galleries[(page - 1) * per_page : page * per_page]
    tag_sets = [{t.strip() for t in g.tags.split(",") if t.strip()} for g in galleries]
    return {
        "workspace": c.state.account["accid"],
        "galleries": [
            {
                "fid": g.fid,
                "name": g.name,
                "description": g.description,
                "tags": g.tags,
                "items_count": len(g.items),
                "modified": g.modified,
                "upload_url": _upload_url(c, g.fid),
            }
            for g in chunk
        ],
        "tag_cloud": {t: sum(t in tags for tags in tag_sets) for t in sorted(set().union(*tag_sets))},
        # `page_count` here, `pages_count` in asset.list: as a third-party client reads them (weak).
        "items_data": {"page": page, "items_per_page": per_page, "items_count": len(galleries), "page_count": pages},
    }


def gallery_create(c: Call) -> dict[str, Any]:
    name = need(c.params, "name")
    template = c.params.get("template") or ""
    if template and template not in c.state.galleries:
        raise Refused(f"gallery not found: template={template}")
    with c.state.lock:
        fid = new_rid()  # fids look like rids (wire-protocol page)
        c.state.galleries[fid] = Gallery(fid, name, c.params.get("description") or "", template=template)
        c.state.save()
    return {"fid": fid}


def gallery_get_items(c: Call) -> dict[str, Any]:
    g = _find(c)
    with c.state.lock:
        assets = [c.state.assets[r] for r in g.items if r in c.state.assets]
    page, per_page, pages = _page(c, len(assets))
    chunk = assets[(page - 1) * per_page : page * per_page]
    return {
        "fid": g.fid,
        "upload_url": _upload_url(c, g.fid),
        "claimed": str(sum(a.size for a in assets)),
        "spfid": "",
        "folder": {
            "items": [api_assets.asset_item(c, a) for a in chunk],
            "items_data": {"page": page, "items_per_page": per_page, "items_count": len(assets), "pages_count": pages},
        },
    }


def gallery_add_item(c: Call) -> dict[str, Any]:
    g = _find(c)
    position = c.params.get("insert_position") or "bottom"
    if position not in ("top", "bottom"):
        raise Refused(f"bad parameter: insert_position must be top or bottom, got {position!r}")
    rids = _rids(c)
    with c.state.lock:
        # guess: an asset already in the gallery stays where it is (a gallery lists each once).
        new = [r for r in dict.fromkeys(rids) if r not in g.items]
        g.items = new + g.items if position == "top" else g.items + new
        g.modified = now_iso()
        c.state.save()
    return {}


def gallery_remove_item(c: Call) -> dict[str, Any]:
    g = _find(c)
    rids = set(_rids(c))
    with c.state.lock:
        # guess: an asset that is not in the gallery is no error (the gallery ends the same).
        g.items = [r for r in g.items if r not in rids]
        g.modified = now_iso()
        c.state.save()
    return {}


def gallery_set_meta(c: Call) -> dict[str, Any]:
    g = _find(c)
    fields = {k: c.params[k] for k in GALLERY_META if k in c.params}
    if not fields:
        raise Refused(f"nothing to set: give one of {', '.join(GALLERY_META)}")
    with c.state.lock:
        for key, value in fields.items():
            setattr(g, key, value)
        g.modified = now_iso()
        c.state.save()
    return {}


def gallery_delete(c: Call) -> dict[str, Any]:
    g = _find(c)
    with c.state.lock:
        if c.state.galleries.pop(g.fid, None) is None:  # deleted by a parallel call meanwhile
            raise Refused(f"gallery not found: fid={g.fid}")
        c.state.save()
    if (c.params.get("delete_assets") or "no").lower() in ("yes", "true", "1"):
        for rid in g.items:
            c.state.delete_asset(rid)
    return {}
