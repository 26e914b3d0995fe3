"""Typed answers the hook returns instead of raw responses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaUploadFromUrlError
from airflow_provider_cincopa.hooks._answers import number
from airflow_provider_cincopa.redaction import redact

UploadState = Literal["running", "done", "failed"]

IfExists = Literal["reuse", "create", "fail"]
#: What a task does when the item it would make exists already (an asset found by its
#: ``reference_id``, a gallery by its name): ``reuse`` it, ``create`` another all the same, or
#: ``fail``. The one vocabulary of every ``if_exists`` argument.
IF_EXISTS: tuple[IfExists, ...] = ("reuse", "create", "fail")
#: The asset operators' first spellings, still accepted: ``skip`` (the upload) is ``reuse``,
#: ``upload`` is ``create``.
_IF_EXISTS_SPELLINGS: dict[str, IfExists] = {"skip": "reuse", "upload": "create"}


def if_exists_rule(value: str) -> IfExists:
    """
    ``value`` as one of :data:`IF_EXISTS`, or a
    :class:`~airflow_provider_cincopa.exceptions.CincopaInputError` listing them.

    :param value: what the DAG gave (``skip`` and ``upload`` are read as ``reuse`` and ``create``).
    """
    for rule in IF_EXISTS:
        if value == rule:
            return rule
    if isinstance(value, str) and value in _IF_EXISTS_SPELLINGS:
        return _IF_EXISTS_SPELLINGS[value]
    raise CincopaInputError(f"if_exists must be one of {list(IF_EXISTS)}, got {value!r}")


# Only ``inprogress`` has been seen on the wire; the rest are the wire-protocol page's guess at
# what a finished or failed import says. ``resid`` being set is the stronger signal of success.
_DONE_STATUSES = frozenset({"ready", "done", "complete", "completed", "success"})
_FAILED_STATUSES = frozenset({"failed", "error", "aborted"})


@dataclass(frozen=True)
class UploadResult:
    """
    What the upload host created.

    :param rid: the new asset's rid (12 characters), or the parent's for an attached file.
    :param id: the asset's numeric id.
    :param filename: the file name sent in ``X-File-Name``.
    :param size: bytes uploaded.
    """

    rid: str
    id: int
    filename: str
    size: int


@dataclass(frozen=True)
class UploadFromUrlStatus:
    """
    Normalised answer of ``asset.upload_from_url_get_status``.

    The done and failed status values are a guess (the wire-protocol page's): only ``inprogress``
    has been seen on the wire; ``resid`` being set is the stronger sign of a finished import.

    :param status_id: the import's id.
    :param state: ``running``, ``done`` or ``failed``.
    :param rid: the new asset's rid once done, else None.
    :param progress: percent done, or None while unknown.
    :param bytes_done: bytes downloaded so far, or None while unknown.
    :param total_bytes: size of the source, or None while unknown.
    :param message: what Cincopa said about the import (its reason when failed).
    :param raw: the answer as Cincopa sent it.
    """

    status_id: str
    state: UploadState
    rid: str | None = None
    progress: float | None = None
    bytes_done: int | None = None
    total_bytes: int | None = None
    message: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_answer(cls, status_id: str, answer: dict[str, Any]) -> UploadFromUrlStatus:
        """Build the status from a ``success: true`` answer of the status call."""
        status = str(answer.get("status") or "").strip().lower()
        rid = str(answer.get("resid") or "").strip() or None
        state: UploadState
        if status in _FAILED_STATUSES:
            state = "failed"
        elif rid or status in _DONE_STATUSES:
            state = "done"
        else:
            state = "running"
        # Which field carries the reason is not documented: say every one that has something.
        fields = ("message", "error", "debug", "more")
        said = [str(answer[k]).strip() for k in fields if str(answer.get(k) or "").strip()]
        # Redacted here: Cincopa may echo the source URL, signature and all, and this lands in reprs.
        message = redact("; ".join(dict.fromkeys(said))) or f"Cincopa gave no reason (status {status or 'empty'!r})"
        return cls(
            status_id=status_id,
            state=state,
            rid=rid,
            progress=_known(number(answer.get("progress"), float)),
            bytes_done=_known(number(answer.get("progress_bytes"))),
            total_bytes=_known(number(answer.get("file_size_bytes"))),
            message=message,
            raw=answer,
        )

    @property
    def is_terminal(self) -> bool:
        """True once the import is done or failed."""
        return self.state != "running"

    def finished_rid(self) -> str:
        """
        The rid of the asset a finished import made.

        :raises CincopaUploadFromUrlError: the import failed, or finished without naming an asset.
        """
        if self.state == "failed":
            raise CincopaUploadFromUrlError(f"Cincopa import {self.status_id} failed: {redact(self.message)}")
        if not self.rid:
            raise CincopaUploadFromUrlError(
                f"Cincopa import {self.status_id} finished but named no asset: {redact(self.message)}"
            )
        return self.rid


def _known(value: Any) -> Any:
    # Cincopa sends "-1" while a value is unknown.
    return None if value is None or value < 0 else value


@dataclass(frozen=True)
class VersionLink:
    """
    One rendition of an asset (an entry of ``versions`` in ``asset.list`` answers).

    :param key: the version's key in ``versions``, e.g. ``ts_720p``, ``mp4_hd``, ``original``.
    :param name: its display name (``720p``).
    :param mime: its MIME type (``application/x-mpegURL`` for HLS renditions).
    :param filesize: bytes, or None when Cincopa did not say.
    :param url: the CDN URL ``asset.list`` gave for it, or None when it had none (or one that
        carried a secret, which is never passed on).
    :param direct_url: the ``get_version_url.aspx?rid=...&ver=<key>`` link to this version.
    """

    key: str
    name: str
    mime: str
    filesize: int | None
    url: str | None
    direct_url: str


@dataclass(frozen=True)
class PlaybackLinks:
    """
    Where an asset can be played without Cincopa's player (media-platform page, "Get a direct link").

    Every URL is built from the rid and version keys only: none carries the api_token or another
    secret, so the whole structure can go to XCom (:meth:`to_dict`) and to other systems.

    :param rid: the asset.
    :param type: the asset's type (``video``, ``image``...).
    :param syncstatus: Cincopa's ``syncstatus`` when the links were made (``synced`` once every
        version exists); versions still being made are missing from ``versions``.
    :param hls_url: the ``m3u8.aspx?rid=`` manifest of every HLS rendition (video assets only).
    :param direct_url: ``get_version_url.aspx?rid=&ver=<priority list>``: the first version of the
        list that exists.
    :param versions: every version ``asset.list`` reported, by key.
    """

    rid: str
    type: str
    syncstatus: str
    hls_url: str | None
    direct_url: str
    versions: dict[str, VersionLink] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for XCom and for handing on to other systems."""
        return asdict(self)


AssetSyncState = Literal["pending", "synced", "failed", "missing"]

# Only ``synced`` is documented (the asset.list sample of the media-platform page, at the top
# and in ``content``). Which words mean "failed" and "not yet" is our guess: nothing public
# lists them. A value in neither set is read as pending, and flagged so callers can log it.
SYNCED_STATUSES = frozenset({"synced"})
SYNC_FAILED_STATUSES = frozenset({"failed", "failure", "error", "sync_failed", "syncfailed"})
SYNC_PENDING_STATUSES = frozenset(
    {
        "pending",
        "syncing",
        "processing",
        "queued",
        "waiting",
        "new",
        "inprogress",
        "in_progress",
        "uploading",
        "converting",
        "transcoding",
        "unsynced",
        "notsynced",
        "not_synced",
    }
)


@dataclass(frozen=True)
class AssetSyncStatus:
    """
    Whether an asset's versions are ready, read from its ``asset.list`` item (``syncstatus``).

    :param rid: the asset.
    :param state: ``synced`` (ready), ``failed``, ``pending``, or ``missing`` (no such asset).
    :param syncstatus: the value Cincopa sent, lower-cased; empty when it sent none.
    :param asset: the ``asset.list`` item, versions included; None when missing.
    :param recognised: False when ``syncstatus`` is a value we do not know (read as pending).
    """

    rid: str
    state: AssetSyncState
    syncstatus: str = ""
    asset: dict[str, Any] | None = field(default=None, repr=False)
    recognised: bool = True

    @classmethod
    def from_item(cls, rid: str, item: dict[str, Any] | None) -> AssetSyncStatus:
        """Build the status from the asset's ``asset.list`` item, or None when it was not listed."""
        if item is None:
            return cls(rid=rid, state="missing")
        raw = item.get("syncstatus")
        content = item.get("content")
        if raw is None and isinstance(content, dict):
            raw = content.get("syncstatus")  # the sample carries it in `content` too
        status = str(raw or "").strip().lower()
        state: AssetSyncState
        if status in SYNCED_STATUSES:
            state = "synced"
        elif status in SYNC_FAILED_STATUSES:
            state = "failed"
        else:
            state = "pending"
        recognised = status in SYNCED_STATUSES | SYNC_FAILED_STATUSES | SYNC_PENDING_STATUSES
        return cls(rid=rid, state=state, syncstatus=status, asset=item, recognised=recognised)

    @property
    def is_terminal(self) -> bool:
        """True once waiting longer cannot change the outcome (synced, failed or missing)."""
        return self.state != "pending"

    @property
    def versions(self) -> list[str]:
        """The names of the versions Cincopa lists (``original``, ``mp4_hd``, ``ts_720p``...)."""
        versions = (self.asset or {}).get("versions")
        return sorted(versions) if isinstance(versions, dict) else []

    def failure_message(self) -> str:
        """Why waiting ended without the asset being ready (for a failed or missing asset)."""
        if self.state == "missing":
            return (
                f"Cincopa has no asset {self.rid} (deleted while waiting, or never created): "
                "its versions will never be ready"
            )
        return f"Cincopa could not make the versions of asset {self.rid}: syncstatus is {self.syncstatus!r}"

    def waiting_message(self) -> str:
        """A log line for an asset that is not ready yet."""
        said = repr(self.syncstatus) if self.syncstatus else "no syncstatus"
        line = f"Asset {self.rid} not synced yet ({said}; versions so far: {', '.join(self.versions) or 'none'})"
        if not self.recognised:
            line += "; this syncstatus value is not one we know, so it is read as 'not ready yet'"
        return line
