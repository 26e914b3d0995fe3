"""Operator that hands an asset's playback links (HLS manifest, direct version URLs) to downstream tasks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.links.cincopa import CincopaAssetLink, remember_asset
from airflow_provider_cincopa.operators.cincopa import _CincopaOperator

if TYPE_CHECKING:
    from airflow.sdk import Context


class CincopaGetPlaybackLinksOperator(_CincopaOperator):
    """
    Return an asset's playback links as a dict for XCom: its HLS manifest and direct version URLs.

    The links are those of the media-platform page ("Get a direct link to a video asset"):
    ``https://rtcdn.cincopa.com/m3u8.aspx?rid=...`` and
    ``https://www.cincopa.com/media-platform/api/get_version_url.aspx?rid=...&ver=...``, one
    per version ``asset.list`` reports and one with a priority list. They carry no secret. Run it
    after the asset's versions are made (``syncstatus`` ``synced``) to get every rendition.

    .. seealso:: :meth:`~airflow_provider_cincopa.hooks.cincopa.CincopaHook.get_playback_links`

    :param rid: the asset. (templated)
    :param version_priority: the ``ver`` list of ``direct_url``, best first (a list or a comma
        string); default the page's example list. (templated)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("rid", "version_priority")
    operator_extra_links = (CincopaAssetLink(),)

    def __init__(self, *, rid: str, version_priority: str | list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rid = rid
        self.version_priority = version_priority

    def execute(self, context: Context) -> dict[str, Any]:
        """Read the asset once and return :class:`~airflow_provider_cincopa.types.PlaybackLinks` as a dict."""
        links = self.hook.get_playback_links(self.rid, version_priority=self.version_priority)
        remember_asset(context, links.rid)
        self.log.info(
            "Asset %s (%s, %s): HLS %s, %d version(s)",
            links.rid,
            links.type or "?",
            links.syncstatus or "no syncstatus",
            links.hls_url or "none",
            len(links.versions),
        )
        return links.to_dict()
