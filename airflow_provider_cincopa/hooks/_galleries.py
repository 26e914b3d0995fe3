"""
The hook's gallery methods: list, create, items, add and remove items, metadata, delete.

``../shared/reference/`` names ``gallery.list`` (its per-gallery ``upload_url`` uploads straight
into a gallery) but documents no gallery method's parameters or answer. What this module sends
and reads comes from public clients, each fact marked where it is used with the marks defined in
docs/api-coverage.md ("How sure each fact is"):

- **seen**: Cincopa's own code (its Moodle plugin: ``gallery.list`` with
  ``search=caption=<name>``, ``galleries[].fid``, ``gallery.delete`` with ``delete_assets=yes``;
  its dashboard: ``gallery.create`` answering ``fid``);
- **weak**: third-party clients (Pipedream: ``gallery.create`` with ``name``/``description``/
  ``template``, ``gallery.add_item`` with a comma list in ``rid`` and ``insert_position``
  top/bottom, ``galleries[].name``; two generated clients: ``gallery.get_items`` answering
  ``folder.items`` and ``folder.items_data``, ``gallery.list`` paging in ``items_data`` with
  ``page_count``);
- **guess**: everything else, said so where it is used.

Verbs: vendor code sends every gallery call as GET; the REST reference, as one third-party
catalogue transcribes it, lists ``create``, ``add_item``, ``remove_item``, ``set_meta`` and
``delete`` as POST. Cincopa takes either with the parameters in the query string (wire-protocol
page), so we send reads as GET and writes as POST, like the rest of the hook.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from airflow_provider_cincopa.exceptions import (
    CincopaApiError,
    CincopaGalleryExistsError,
    CincopaInputError,
    CincopaResponseError,
)
from airflow_provider_cincopa.hooks._api import CincopaAPI
from airflow_provider_cincopa.hooks._assets import register_upload_url
from airflow_provider_cincopa.hooks._metadata import meta_values
from airflow_provider_cincopa.hooks._params import check_positive, comma_list, required, rid_list
from airflow_provider_cincopa.redaction import printable
from airflow_provider_cincopa.types import if_exists_rule

#: ``gallery.set_meta`` fields. guess: the fields ``gallery.create`` takes, plus ``tags``
#: (``gallery.list`` filters on tags, so galleries have them); no public client sets any.
GALLERY_META_FIELDS = ("name", "description", "tags")
#: ``gallery.add_item``'s ``insert_position`` values (weak: Pipedream's component).
INSERT_POSITIONS = ("top", "bottom")
_WRITE = "POST"

log = logging.getLogger(__name__)


def _mask_gallery_upload_urls(answer: dict[str, Any]) -> None:
    # Each gallery's upload_url lets anyone upload into it: masked before any gallery is yielded.
    galleries = answer.get("galleries")
    for gallery in galleries if isinstance(galleries, list) else ():
        if isinstance(gallery, dict) and gallery.get("upload_url"):
            register_upload_url(str(gallery["upload_url"]))


def _mask_upload_url(answer: dict[str, Any]) -> None:
    if answer.get("upload_url"):
        register_upload_url(str(answer["upload_url"]))


class GalleriesAPI(CincopaAPI):
    """``gallery.*``: named, ordered collections of assets that players and playlists show."""

    def list_galleries(
        self,
        *,
        search: str | None = None,
        filter_tags: str | list[str] | None = None,
        items_per_page: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """
        Iterate lazily over the account's galleries (``gallery.list``), one page at a time.

        Each gallery is Cincopa's object as is: ``fid`` (seen), ``name`` (weak) and ``upload_url``
        (the media-platform page: POST a file there to add it to this gallery). The URL's
        ``hash`` lets anyone upload into the account: it is registered with the secrets masker
        before the gallery is yielded. Keep it out of XCom: return ``fid`` and ``name`` from a
        task, not the whole gallery.

        :param search: Cincopa's search text; ``caption=<name>`` matches a gallery by name (seen
            in Cincopa's Moodle plugin).
        :param filter_tags: only galleries with these tags, a list or a comma string (weak).
        :param items_per_page: page size (weak: the parameter name ``asset.list`` uses).
        """
        check_positive(items_per_page, "items_per_page", allow_zero=False)
        params = {"search": search, "filter_tags": comma_list(filter_tags), "items_per_page": items_per_page}
        yield from self._pages("gallery.list", params, "galleries", on_answer=_mask_gallery_upload_urls)

    def find_galleries(self, name: str) -> list[dict[str, Any]]:
        """
        Every gallery whose name is exactly ``name`` (Cincopa lets several share one name).

        Asks with ``search=caption=<name>`` as Cincopa's Moodle plugin does, then keeps only
        exact matches, so a server that searches more loosely cannot pick the wrong gallery.

        :param name: the gallery name.
        """
        name = required(name, "name").strip()
        return [
            g
            for g in self.list_galleries(search=f"caption={name}")
            if str(g.get("name", g.get("caption", ""))).strip() == name
        ]

    def get_or_create_gallery(
        self,
        name: str,
        *,
        description: str | None = None,
        template: str | None = None,
        if_exists: str = "reuse",
    ) -> str:
        """
        The fid of the gallery named ``name``, made when there is none (or when ``if_exists="create"``).

        Cincopa lets several galleries share a name, so creating one on every run (or on a retry
        after a lost answer) would pile up copies: this looks the name up first.

        :param name: the gallery's name.
        :param description: its description, set only when the gallery is created.
        :param template: the fid of a gallery whose look a new one takes.
        :param if_exists: ``reuse`` (return the existing fid; when several share the name, the
            first Cincopa lists, with a warning naming the others), ``create`` (make another one
            all the same) or ``fail`` (raise
            :class:`~airflow_provider_cincopa.exceptions.CincopaGalleryExistsError`).
        """
        rule = if_exists_rule(if_exists)
        shown = printable(repr(name))
        found = self.find_galleries(name) if rule != "create" else []
        if found and rule == "fail":
            raise CincopaGalleryExistsError(
                f"A Cincopa gallery named {shown} exists already (fid {found[0].get('fid')}); "
                "use if_exists='reuse' to use it",
                method="gallery.list",
            )
        if found:
            fid = str(found[0]["fid"])
            if len(found) > 1:
                others = ", ".join(str(g.get("fid")) for g in found[1:])
                log.warning("%d galleries are named %s; using %s, not %s", len(found), shown, fid, others)
            log.info("Reusing Cincopa gallery %s (%s)", fid, shown)
            return fid
        fid = self.create_gallery(name, description=description, template=template)
        log.info("Created Cincopa gallery %s (%s)", fid, shown)
        return fid

    def gallery_exists(self, fid: str) -> bool:
        """True when a gallery with this fid exists (looked up in ``gallery.list``)."""
        fid = required(fid, "fid")
        return any(g.get("fid") == fid for g in self.list_galleries())

    def create_gallery(self, name: str, *, description: str | None = None, template: str | None = None) -> str:
        """
        Create a gallery (``gallery.create``) and return its fid.

        Not retried once the request may have reached Cincopa: a retry could make a second
        gallery (names need not be unique). :meth:`find_galleries` finds one made before.

        :param name: the gallery's name (weak: Pipedream's parameter name).
        :param description: its description (weak).
        :param template: the fid of a gallery whose look (skin) the new one takes (weak).
        :return: the new gallery's ``fid`` (seen in Cincopa's dashboard code).
        """
        params = {"name": required(name, "name"), "description": description, "template": template}
        answer = self.call("gallery.create", params, http_method=_WRITE, idempotent=False)
        fid = str(answer.get("fid") or "")
        if not fid:
            raise CincopaResponseError("Cincopa's answer to gallery.create has no fid", method="gallery.create")
        return fid

    def get_gallery_items(
        self, fid: str, *, items_per_page: int = 100, details: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """
        Iterate lazily over a gallery's assets in gallery order (``gallery.get_items``).

        Each item is shaped like an ``asset.list`` item (``rid``, ``caption``, ``versions``...).
        The answer's own ``upload_url`` is registered with the secrets masker, though not yielded.

        :param fid: the gallery.
        :param items_per_page: page size (weak).
        :param details: Cincopa's ``details`` flag, passed as is (weak).
        :raises CincopaApiError: no gallery has this fid.
        """
        check_positive(items_per_page, "items_per_page", allow_zero=False)
        params = {"fid": required(fid, "fid"), "items_per_page": items_per_page, "details": details}
        # weak: two third-party clients read the items (and their paging) from `folder`.
        yield from self._pages("gallery.get_items", params, "folder.items", on_answer=_mask_upload_url)

    def add_to_gallery(
        self, fid: str, rids: str | Iterable[str], *, insert_position: str | None = None
    ) -> dict[str, Any]:
        """
        Add one asset or several to a gallery in one ``gallery.add_item`` call.

        Not retried once the request may have reached Cincopa: whether adding an asset that is
        already there duplicates it is not documented.

        :param fid: the gallery.
        :param rids: one rid, a comma string or a list (an XCom of rids).
        :param insert_position: ``top`` or ``bottom`` (weak; Cincopa's default is said to be
            ``bottom``).
        """
        if insert_position is not None and insert_position not in INSERT_POSITIONS:
            raise CincopaInputError(f"insert_position must be one of {INSERT_POSITIONS}, got {insert_position!r}")
        # weak: one `rid` parameter carrying a comma list, as Pipedream sends it.
        params = {"fid": required(fid, "fid"), "rid": ",".join(rid_list(rids)), "insert_position": insert_position}
        return self.call("gallery.add_item", params, http_method=_WRITE, idempotent=False)

    def remove_from_gallery(self, fid: str, rids: str | Iterable[str]) -> dict[str, Any]:
        """
        Take one asset or several out of a gallery (``gallery.remove_item``); the assets stay.

        Removing twice leaves the same gallery, so the call is retried like a read.

        :param fid: the gallery.
        :param rids: one rid, a comma string or a list (weak: the same comma list as
            ``gallery.add_item``).
        """
        params = {"fid": required(fid, "fid"), "rid": ",".join(rid_list(rids))}
        return self.call("gallery.remove_item", params, http_method=_WRITE)

    def set_gallery_meta(self, fid: str, **fields: Any) -> dict[str, Any]:
        """
        Set a gallery's metadata (``gallery.set_meta``).

        guess: the field names; no public client calls this method.

        :param fid: the gallery.
        :param fields: any of ``name``, ``description``, ``tags`` (a list or a comma string).
        """
        values = meta_values(fields, allowed=GALLERY_META_FIELDS, what=f"gallery.set_meta on gallery {fid!r}")
        return self.call("gallery.set_meta", {"fid": required(fid, "fid"), **values}, http_method=_WRITE)

    def delete_gallery(self, fid: str, *, delete_assets: bool = False, missing_ok: bool = False) -> bool:
        """
        Delete a gallery (``gallery.delete``).

        ``delete_assets`` always goes out, ``yes`` or ``no`` (seen: Cincopa's Moodle plugin and
        dashboard send ``delete_assets=yes``): Cincopa's default when it is left out is not
        documented, and a default of ``yes`` would delete media nobody meant to.

        :param fid: the gallery.
        :param delete_assets: delete the gallery's assets for good too.
        :param missing_ok: return False instead of raising when no gallery has this fid.
        :return: True when deleted, False when it was already gone and ``missing_ok``.
        """
        params = {"fid": required(fid, "fid"), "delete_assets": "yes" if delete_assets else "no"}
        try:
            self.call("gallery.delete", params, http_method=_WRITE)
        except CincopaApiError:
            # Cincopa's refusal text is not a stable contract: ask whether the gallery exists instead.
            if missing_ok and not self.gallery_exists(fid):
                return False
            raise
        return True
