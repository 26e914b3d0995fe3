"""Operators that organise Cincopa assets into galleries (what players and playlists show)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.exceptions import CincopaGalleryExistsError, CincopaInputError
from airflow_provider_cincopa.hooks._galleries import INSERT_POSITIONS
from airflow_provider_cincopa.hooks._params import rid_list
from airflow_provider_cincopa.operators.cincopa import _CincopaOperator, _DeleteOperator
from airflow_provider_cincopa.redaction import printable
from airflow_provider_cincopa.types import if_exists_rule

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "CincopaAddToGalleryOperator",
    "CincopaCreateGalleryOperator",
    "CincopaDeleteGalleryOperator",
    "CincopaGalleryExistsError",
    "CincopaRemoveFromGalleryOperator",
]


class CincopaCreateGalleryOperator(_CincopaOperator):
    """
    Create a gallery, or reuse the one of that name; return its ``fid``.

    Cincopa lets several galleries share a name, so a DAG that simply created one on every run
    (or every retry, after an answer was lost) would pile up copies. With ``if_exists="reuse"``
    (the default) the operator first looks the name up and returns the existing gallery's fid;
    when several share it, the first Cincopa lists is used and the others are named in the log
    (the hook's :meth:`~airflow_provider_cincopa.hooks.cincopa.CincopaHook.get_or_create_gallery`
    does the work, for TaskFlow code too).

    :param name: the gallery's name. (templated)
    :param description: its description, set only when the gallery is created. (templated)
    :param template: the fid of a gallery whose look the new one takes. (templated)
    :param if_exists: ``reuse`` (return the existing fid), ``create`` (make another one all the
        same) or ``fail`` (raise :class:`CincopaGalleryExistsError`).
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("name", "description", "template")

    def __init__(
        self,
        *,
        name: str,
        description: str | None = None,
        template: str | None = None,
        if_exists: str = "reuse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.name = name
        self.description = description
        self.template = template
        self.if_exists = if_exists_rule(if_exists)

    def execute(self, context: Context) -> str:
        """Look the name up unless ``if_exists="create"``, then create the gallery if needed."""
        return self.hook.get_or_create_gallery(
            self.name, description=self.description, template=self.template, if_exists=self.if_exists
        )


class _GalleryItemsOperator(_CincopaOperator):
    """Shared by the add and remove operators: a gallery and the rids to act on."""

    template_fields: Sequence[str] = ("gallery_fid", "rids")

    def __init__(self, *, gallery_fid: str, rids: str | Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gallery_fid = gallery_fid
        self.rids = rids

    def _rendered_rids(self) -> list[str]:
        try:
            return rid_list(self.rids)
        except CincopaInputError:
            raise CincopaInputError(f"{self.task_id}: rids rendered to no asset rid ({self.rids!r})") from None


class CincopaAddToGalleryOperator(_GalleryItemsOperator):
    """
    Add assets to a gallery in one ``gallery.add_item`` call; return the rids added.

    :param gallery_fid: the gallery, e.g. a :class:`CincopaCreateGalleryOperator`'s output. (templated)
    :param rids: one rid, a comma string or a list, e.g. an upload's output or a mapped upload's
        outputs. (templated)
    :param insert_position: ``top`` or ``bottom`` (Cincopa's default).
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    def __init__(
        self, *, gallery_fid: str, rids: str | Iterable[str], insert_position: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(gallery_fid=gallery_fid, rids=rids, **kwargs)
        if insert_position is not None and insert_position not in INSERT_POSITIONS:
            raise CincopaInputError(f"insert_position must be one of {INSERT_POSITIONS}, got {insert_position!r}")
        self.insert_position = insert_position

    def execute(self, context: Context) -> list[str]:
        """Call ``gallery.add_item`` with every rid."""
        rids = self._rendered_rids()
        self.hook.add_to_gallery(self.gallery_fid, rids, insert_position=self.insert_position)
        shown = printable(", ".join(rids))
        self.log.info("Added %d asset(s) to Cincopa gallery %s: %s", len(rids), printable(self.gallery_fid), shown)
        return rids


class CincopaRemoveFromGalleryOperator(_GalleryItemsOperator):
    """
    Take assets out of a gallery (they stay in the account); return the rids removed.

    :param gallery_fid: the gallery. (templated)
    :param rids: one rid, a comma string or a list. (templated)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    def execute(self, context: Context) -> list[str]:
        """Call ``gallery.remove_item`` with every rid."""
        rids = self._rendered_rids()
        self.hook.remove_from_gallery(self.gallery_fid, rids)
        shown = printable(", ".join(rids))
        self.log.info("Removed %d asset(s) from Cincopa gallery %s: %s", len(rids), printable(self.gallery_fid), shown)
        return rids


class CincopaDeleteGalleryOperator(_DeleteOperator):
    """
    Delete a gallery; return True when deleted, False when already gone and ``missing_ok``.

    :param gallery_fid: the gallery. (templated)
    :param delete_assets: delete its assets for good too (default: they stay in the account).
    :param missing_ok: succeed when no gallery has this fid.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("gallery_fid",)

    def __init__(self, *, gallery_fid: str, delete_assets: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gallery_fid = gallery_fid
        self.delete_assets = delete_assets

    def execute(self, context: Context) -> bool:
        """Call ``gallery.delete``."""
        deleted = self.hook.delete_gallery(
            self.gallery_fid, delete_assets=self.delete_assets, missing_ok=self.missing_ok
        )
        what = "deleted" + (" with its assets" if self.delete_assets else "") if deleted else "was already gone"
        self.log.info("Cincopa gallery %s %s", printable(self.gallery_fid), what)
        return deleted
