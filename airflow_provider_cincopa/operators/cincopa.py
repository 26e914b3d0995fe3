"""Operators that move media into Cincopa and manage assets and webhooks."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

# Below Airflow 3.3 ResumableJobMixin is a stand-in that submits afresh on every try (no task_state_store).
from airflow_provider_cincopa._compat import AirflowSkipException, ResumableJobMixin, conf
from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaUploadFromUrlError
from airflow_provider_cincopa.hooks.cincopa import META_FIELDS, CincopaHook
from airflow_provider_cincopa.links.cincopa import CincopaAssetLink, remember_asset
from airflow_provider_cincopa.operators._ingest import (
    CincopaAssetMetaMixin,
    CincopaLineageMixin,
    check_if_exists,
    emit_outlet_events,
    file_dataset,
    url_dataset,
)
from airflow_provider_cincopa.operators._retry import use_default_retry_policy
from airflow_provider_cincopa.redaction import printable, redact, register_secret, register_url_secrets

if TYPE_CHECKING:
    import jinja2
    from airflow.sdk import Context

UI_COLOR = "#e8f0fb"
UI_FGCOLOR = "#1a3a6b"


#: The operator's arguments that :meth:`CincopaHook.upload_file` takes under the same names.
_UPLOAD_OPTIONS = (
    "gallery_fid",
    "attach_to_rid",
    "attach_type",
    "filename",
    "chunk_size",
    "max_parallel_chunks",
    "source_conn_id",
)


class CancelFlag(threading.Event):
    """
    A ``threading.Event`` an operator can hold from ``__init__``: a copy is a fresh, unset flag.

    Airflow deep-copies operators (a lock cannot be copied), and a copy of a task must not share
    its cancel flag anyway.
    """

    def __deepcopy__(self, memo: dict[int, Any]) -> CancelFlag:
        return type(self)()


class _CincopaOperator(BaseOperator):
    """Shared plumbing: the connection id, a lazily created hook, the UI colours, URL credentials."""

    ui_color = UI_COLOR
    ui_fgcolor = UI_FGCOLOR
    #: Fields that are secrets as a whole, and fields holding a URL whose password and signature
    #: are: both are registered with the secrets masker before and after rendering, so that
    #: neither the rendered fields Airflow stores nor a log line holds them.
    secret_fields: Sequence[str] = ()
    secret_url_fields: Sequence[str] = ()

    def __init__(self, *, cincopa_conn_id: str = CincopaHook.default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cincopa_conn_id = cincopa_conn_id
        use_default_retry_policy(self, kwargs)

    @cached_property
    def hook(self) -> CincopaHook:
        """The hook, created on first use (never in ``__init__``)."""
        hook = CincopaHook(cincopa_conn_id=self.cincopa_conn_id)
        if hasattr(self, "get_openlineage_facets_on_complete"):
            hook.lineage = False  # the operator reports its own OpenLineage facets: not twice
        return hook

    def render_template_fields(self, context: Context, jinja_env: jinja2.Environment | None = None) -> None:
        """Render, registering ``secret_fields`` and ``secret_url_fields`` before the rendered fields are stored."""
        self._register_secrets()
        super().render_template_fields(context, jinja_env)
        self._register_secrets()

    def _register_secrets(self) -> None:
        for name in self.secret_fields:
            register_secret(getattr(self, name))
        for name in self.secret_url_fields:
            register_url_secrets(getattr(self, name))


class CincopaUploadFileOperator(CincopaLineageMixin, CincopaAssetMetaMixin, _CincopaOperator):
    """
    Upload a local or object-storage file to Cincopa, set its metadata, and return its ``rid``.

    Large files go in parallel chunks streamed from ranged reads. On Airflow 3.3+ with a Fernet
    key the upload is crash-safe: the upload URL, its ``unique-id`` and the acknowledged byte
    ranges are kept in ``task_state_store``, sealed with the Fernet key (see
    :mod:`airflow_provider_cincopa.upload_state`), so a retry after a dead worker sends only the
    missing ranges and finishes the same asset; when every byte arrived but the rid was lost, the
    asset Cincopa made is found and adopted; a retry or clear after a finished upload returns the
    existing rid while that asset exists, and uploads again once it was deleted.

    Re-runs that must never make a second asset (a backfill, a second trigger of the same
    config) give a ``reference_id`` and ``if_exists="skip"``: an asset that already carries it
    is returned, and no byte is sent. Two tasks racing on one ``reference_id`` can both find
    nothing and both upload: Cincopa does not keep reference ids unique, so the second one to
    finish logs a warning naming both assets; keep such tasks apart (one task per item, a pool).

    Outlets: each ``Asset`` outlet's event carries the rid, filename and size in its extra; each
    ``AssetAlias`` outlet gets ``Asset("cincopa://asset/<rid>")``.

    :param source_path: a local path or an object-storage URL (``s3://bucket/key``). (templated)
    :param gallery_fid: add the asset to this gallery. (templated)
    :param attach_to_rid: attach the file to this asset instead (needs ``attach_type``). (templated)
    :param attach_type: e.g. ``thumb``. (templated)
    :param caption: title, set with the other metadata in one ``set_meta`` call after the upload
        (not when attaching). (templated)
    :param description: short description. (templated)
    :param long_description: long description. (templated)
    :param tags: a list or a comma string. (templated)
    :param reference_id: your own id for the asset. (templated)
    :param related_link_text: text of the related link. (templated)
    :param related_link_url: URL of the related link. (templated)
    :param filename: the name Cincopa shows; default the source's name. (templated)
    :param chunk_size: bytes per request (default: 16 to 47 MiB by the file's size).
    :param max_parallel_chunks: the most chunks in flight (default: the connection extra
        ``max_parallel_chunks``, else 4); one sends at a time (the next starting while the host
        answers) where one already moves 200 MB/s or more.
    :param source_conn_id: the Airflow connection object storage reads ``source_path`` with.
    :param if_exists: ``"create"`` (default; ``"upload"`` too) always uploads; ``"reuse"``
        (``"skip"`` too) returns the rid of an asset that already has ``reference_id`` without
        uploading (the metadata given is still set); ``"fail"`` raises
        :class:`~airflow_provider_cincopa.exceptions.CincopaAssetExistsError` naming it. Anything
        but ``"create"`` needs ``reference_id``.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = (
        "source_path",
        "gallery_fid",
        "attach_to_rid",
        "attach_type",
        *META_FIELDS,
        "filename",
    )
    template_fields_renderers = {"tags": "json"}
    operator_extra_links = (CincopaAssetLink(),)
    secret_url_fields = ("source_path",)  # s3://KEY:SECRET@bucket/... holds a credential

    def __init__(
        self,
        *,
        source_path: str,
        gallery_fid: str | None = None,
        attach_to_rid: str | None = None,
        attach_type: str | None = None,
        filename: str | None = None,
        chunk_size: int | None = None,
        max_parallel_chunks: int | None = None,
        source_conn_id: str | None = None,
        if_exists: str = "create",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.if_exists = check_if_exists(if_exists, self.reference_id, self.task_id)
        if self.if_exists != "create" and attach_to_rid:
            raise CincopaInputError(
                f"Task {self.task_id!r}: if_exists={if_exists!r} looks for an asset, but an attached file "
                "(attach_to_rid) is not an asset of its own"
            )
        self.source_path = source_path
        self.gallery_fid = gallery_fid
        self.attach_to_rid = attach_to_rid
        self.attach_type = attach_type
        self.filename = filename
        self.chunk_size = chunk_size
        self.max_parallel_chunks = max_parallel_chunks
        self.source_conn_id = source_conn_id
        self._cancel = CancelFlag()

    def execute(self, context: Context) -> str:
        """Upload (or resume), set the metadata in one call, emit asset events, return the rid."""
        meta = self.asset_meta()
        existing = self.hook.find_existing_asset(self.reference_id, if_exists=self.if_exists)
        if existing:
            if meta:
                self.hook.set_meta(existing, **meta)
            self._lineage_rid = existing
            emit_outlet_events(self, context, existing, existing=True)
            return existing
        # The upload engine loads when a task runs, not when a DAG file is parsed.
        from airflow_provider_cincopa.upload_state import SealedUploadState

        store = context.get("task_state_store")
        saved = SealedUploadState(store, self._state_binding(context) if store is not None else {}, self.log)
        options = {name: getattr(self, name) for name in _UPLOAD_OPTIONS}
        result = self.hook.upload_file(
            self.source_path, **options, resume=saved.load(), on_state=saved.save, cancel=self._cancel
        )
        self.log.info("Uploaded %s (%d bytes) as Cincopa asset %s", printable(result.filename), result.size, result.rid)
        if meta and self.attach_to_rid:
            # An attached file (a thumbnail, subtitles) is not an asset of its own: the metadata
            # would land on the parent asset, which is rarely what was meant.
            self.log.warning("Not setting %s: the file was attached to %s", ", ".join(sorted(meta)), result.rid)
        elif meta:
            self.hook.set_meta_after_upload(result.rid, retry_finds_asset=saved.enabled, **meta)
        self._lineage_rid = result.rid
        emit_outlet_events(self, context, result.rid, filename=result.filename, size=result.size)
        return result.rid

    def _lineage_input(self) -> tuple[str, str] | None:
        return file_dataset(self.source_path)

    def _state_binding(self, context: Context) -> dict[str, Any]:
        # What a saved state belongs to: one sealed for anything else is discarded (upload_state.py).
        ti = context["ti"]
        return {
            "conn_id": self.cincopa_conn_id,
            "api": self.hook.settings.base_url,
            "ti": [ti.dag_id, ti.task_id, ti.run_id, ti.map_index],
            "source": str(self.source_path),
            "filename": self.filename,
            "attach": [self.gallery_fid, self.attach_to_rid, self.attach_type],
        }

    def on_kill(self) -> None:
        """Stop sending chunks; what was acknowledged stays in task_state_store for a retry."""
        self._cancel.set()


class CincopaUploadFromUrlOperator(CincopaLineageMixin, ResumableJobMixin, CincopaAssetMetaMixin, _CincopaOperator):
    """
    Have Cincopa import a file from a URL; return the ``rid`` (or the ``status_id`` without waiting).

    Crash-safe through ``ResumableJobMixin``: the ``status_id`` is kept in ``task_state_store``, so
    a retry reconnects to the running import instead of starting a duplicate. With a
    ``reference_id`` and ``if_exists="skip"`` a re-run finds the asset an earlier run made and
    starts no import (see :class:`CincopaUploadFileOperator` for races and outlets).

    :param source_url: the ``http(s)://`` URL Cincopa downloads. (templated)
    :param gallery_fid: add the asset to this gallery. (templated)
    :param attach_to_rid: attach the file to this asset instead (needs ``attach_type``). (templated)
    :param attach_type: e.g. ``thumb``. (templated)
    :param caption: title, set when the import has made the asset. (templated)
    :param description: short description. (templated)
    :param long_description: long description. (templated)
    :param tags: a list or a comma string. (templated)
    :param reference_id: your own id for the asset. (templated)
    :param related_link_text: text of the related link. (templated)
    :param related_link_url: URL of the related link. (templated)
    :param if_exists: ``"create"`` (default; ``"upload"`` too), ``"reuse"`` (``"skip"`` too: return
        the rid of an asset that already has ``reference_id``, start no import, still set the
        metadata given) or ``"fail"``; anything but ``"create"`` needs ``reference_id``. With
        ``wait_for_completion=False`` there is no rid to set metadata on: ``reference_id`` is only
        looked up (set it where the asset is known, e.g. after the sensor), and ``"reuse"`` skips
        this task and the waits after it.
    :param wait_for_completion: wait for the asset and return its rid; else return the status_id.
        Killing a task that waits aborts its import; an import no task waits for is left to run.
    :param poll_interval: seconds between two status calls.
    :param timeout: seconds to wait for the import; None waits as long as the task may run.
    :param deferrable: wait in the triggerer instead of a worker slot.
    :param abort_on_timeout: abort the remote import when the wait times out.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("source_url", "gallery_fid", "attach_to_rid", "attach_type", *META_FIELDS)
    template_fields_renderers = {"tags": "json"}
    operator_extra_links = (CincopaAssetLink(),)
    external_id_key = "cincopa_upload_from_url_status_id"
    secret_url_fields = ("source_url",)

    def __init__(
        self,
        *,
        source_url: str,
        gallery_fid: str | None = None,
        attach_to_rid: str | None = None,
        attach_type: str | None = None,
        wait_for_completion: bool = True,
        poll_interval: float = 15.0,
        timeout: float | None = 3600.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        abort_on_timeout: bool = True,
        if_exists: str = "create",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.if_exists = check_if_exists(if_exists, self.reference_id, self.task_id)
        if not wait_for_completion and set(self.asset_meta()) - {"reference_id"}:
            raise CincopaInputError(
                f"Task {self.task_id!r}: metadata is set once the import made the asset, so it needs "
                "wait_for_completion=True (or set it later with CincopaSetAssetMetaOperator)"
            )
        if attach_to_rid and (self.if_exists != "create" or self.asset_meta()):
            raise CincopaInputError(
                f"Task {self.task_id!r}: an attached file (attach_to_rid) is not an asset of its own: "
                "it takes no metadata and no if_exists"
            )
        if poll_interval <= 0:
            raise CincopaInputError(f"poll_interval must be > 0 seconds, got {poll_interval!r}")
        if timeout is not None and timeout <= 0:
            raise CincopaInputError(f"timeout must be > 0 seconds (or None), got {timeout!r}")
        self.source_url = source_url
        self.gallery_fid = gallery_fid
        self.attach_to_rid = attach_to_rid
        self.attach_type = attach_type
        self.wait_for_completion = wait_for_completion
        self.poll_interval = poll_interval
        self.timeout = timeout
        self.deferrable = deferrable
        self.abort_on_timeout = abort_on_timeout
        # The import this try started or reconnected to (for on_kill), and the asset it made.
        self._status_id: str | None = None
        self._rid: str | None = None
        self._killed = CancelFlag()

    def execute(self, context: Context) -> str | None:
        """Start (or reconnect to) the import, then wait for it here or in the triggerer."""
        self._killed.clear()
        existing = self.hook.find_existing_asset(self.reference_id, if_exists=self.if_exists)
        if existing and not self.wait_for_completion:
            # There is no import to hand a status_id on for: the waiting steps after it are skipped.
            raise AirflowSkipException(f"Asset {existing} already has reference_id {self.reference_id!r}")
        if existing:
            return self._done(context, existing, existing=True)
        return self.execute_resumable(context)

    # -- ResumableJobMixin --------------------------------------------------------------------

    def submit_job(self, context: Context) -> str:
        """Start the import and return its status_id."""
        status_id = self.hook.upload_from_url(
            self.source_url,
            gallery_fid=self.gallery_fid,
            attach_to_rid=self.attach_to_rid,
            attach_type=self.attach_type,
        )
        self.log.info("Cincopa import of %s started: status_id %s", printable(redact(self.source_url)), status_id)
        # A kill can arrive after Cincopa started the import but before its status_id got here:
        # on_kill found nothing to abort then, so the abort happens now.
        self._status_id = status_id
        if self._killed.is_set():
            self._abort_import(status_id)
        return status_id

    def get_job_status(self, external_id: Any, context: Context) -> str:
        """The normalised state of a stored import: running, done or failed."""
        return self.hook.get_upload_from_url_status(str(external_id)).state

    def is_job_active(self, status: str) -> bool:
        """Running imports are reconnected to."""
        return status == "running"

    def is_job_succeeded(self, status: str) -> bool:
        """Finished imports are not started again."""
        return status == "done"

    # The mixin returns this method's value as the task's result when it reconnects to a running
    # import, so it returns the rid, not None as the base signature says.
    def poll_until_complete(self, external_id: Any, context: Context) -> str | None:  # type: ignore[override]
        """Wait in the worker (the hook's wait) or defer, or return at once when not waiting."""
        status_id = self._status_id = str(external_id)
        if self.wait_for_completion and self._rid is None:
            if self.deferrable:
                self._defer(status_id)
            rid = self.hook.wait_for_upload_from_url(
                status_id,
                poll_interval=self.poll_interval,
                timeout=self.timeout,
                abort_on_timeout=self.abort_on_timeout,
            )
            self._rid = self._done(context, rid, status_id=status_id)
        return self.get_job_result(status_id, context)

    def get_job_result(self, external_id: Any, context: Context) -> str | None:
        """The rid of a finished import; a retry after a finished import returns it without importing."""
        if not self.wait_for_completion:
            return str(external_id)
        if self._rid is None:  # the mixin found the import finished by an earlier try
            status_id = str(external_id)
            rid = self.hook.get_upload_from_url_status(status_id).finished_rid()
            self._rid = self._done(context, rid, status_id=status_id)
        return self._rid

    def on_kill(self) -> None:
        """A user killed the task while it waited: abort the import it started."""
        self._killed.set()
        if self._status_id:
            self._abort_import(self._status_id)

    def _abort_import(self, status_id: str) -> None:
        if self.wait_for_completion:
            self.hook.abort_upload_from_url(status_id)
            self.log.info("Aborted Cincopa import %s", status_id)

    def _defer(self, status_id: str) -> None:
        from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger

        self.defer(
            trigger=CincopaUploadStatusTrigger(
                status_id=status_id,
                cincopa_conn_id=self.cincopa_conn_id,
                poll_interval=self.poll_interval,
                end_time=None if self.timeout is None else time.time() + self.timeout,
                abort_on_kill=True,
            ),
            method_name="execute_complete",
            timeout=None if self.timeout is None else timedelta(seconds=self.timeout + 60),
        )

    # -- results ------------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Turn the trigger's event into the rid or a clear error."""
        if event["status"] == "success":
            return self._done(context, str(event["rid"]), status_id=event["status_id"])
        if event["status"] == "timeout":
            self.hook.time_out_upload_from_url(str(event["status_id"]), self.timeout, abort=self.abort_on_timeout)
        raise CincopaUploadFromUrlError(redact(event["message"]))

    def _done(self, context: Context, rid: str, **extra: Any) -> str:
        # The asset exists: set the metadata, say which asset it is to outlets and lineage.
        self.log.info("Cincopa import made (or found) asset %s", rid)
        meta = self.asset_meta() if self.wait_for_completion else {}
        if meta and extra.get("existing"):
            self.hook.set_meta(rid, **meta)
        elif meta:
            # A retry reconnects to this import (and its asset) only where the mixin keeps its status_id.
            resumes = bool(self.durable and context.get("task_state_store") is not None)
            self.hook.set_meta_after_upload(rid, retry_finds_asset=resumes, **meta)
        self._lineage_rid = rid
        emit_outlet_events(self, context, rid, **extra)
        return rid

    def _lineage_input(self) -> tuple[str, str] | None:
        return url_dataset(self.source_url)


class CincopaSetAssetMetaOperator(CincopaAssetMetaMixin, _CincopaOperator):
    """
    Set an asset's metadata in one ``asset.set_meta`` call; returns the rid.

    :param rid: the asset. (templated)
    :param caption: title. (templated)
    :param description: short description. (templated)
    :param long_description: long description. (templated)
    :param tags: a list or a comma string. (templated)
    :param reference_id: your own id. (templated)
    :param related_link_text: text of the related link. (templated)
    :param related_link_url: URL of the related link. (templated)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("rid", *META_FIELDS)
    operator_extra_links = (CincopaAssetLink(),)

    def __init__(self, *, rid: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rid = rid

    def execute(self, context: Context) -> str:
        """Call ``asset.set_meta`` with the fields given."""
        self.hook.set_meta(self.rid, **self.asset_meta())
        remember_asset(context, self.rid)
        return self.rid


class _DeleteOperator(_CincopaOperator):
    """A delete that returns True when it deleted, False when the item was already gone and ``missing_ok``."""

    def __init__(self, *, missing_ok: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.missing_ok = missing_ok


class CincopaDeleteAssetOperator(_DeleteOperator):
    """
    Delete an asset; returns True when deleted, False when already gone and ``missing_ok``.

    :param rid: the asset. (templated)
    :param missing_ok: succeed when no asset has this rid.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("rid",)

    def __init__(self, *, rid: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rid = rid

    def execute(self, context: Context) -> bool:
        """Call ``asset.delete``."""
        deleted = self.hook.delete_asset(self.rid, missing_ok=self.missing_ok)
        self.log.info("Asset %s %s", printable(self.rid), "deleted" if deleted else "was already gone")
        return deleted


class CincopaResyncAssetOperator(_CincopaOperator):
    """
    Ask Cincopa to regenerate an asset's missing versions; returns the rid.

    :param rid: the asset. (templated)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("rid",)
    operator_extra_links = (CincopaAssetLink(),)

    def __init__(self, *, rid: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rid = rid

    def execute(self, context: Context) -> str:
        """Call ``asset.resync``."""
        self.hook.resync_asset(self.rid)
        remember_asset(context, self.rid)
        return self.rid


class CincopaAbortUploadOperator(_CincopaOperator):
    """
    Abort a running ``upload_from_url`` import; returns the status_id.

    :param status_id: the import. (templated)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("status_id",)

    def __init__(self, *, status_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status_id = status_id

    def execute(self, context: Context) -> str:
        """Call ``asset.upload_from_url_abort``."""
        self.hook.abort_upload_from_url(self.status_id)
        return self.status_id


class CincopaSetWebhookOperator(_CincopaOperator):
    """
    Create or update the webhook for ``hook_url``; returns the hook_url, its credentials masked.

    The ``security_key``, and a password or signature in ``hook_url``
    (``https://bob:PW@host/...``, ``?sig=...``), are registered with the secrets masker before and
    after the task's fields are rendered, so they show as ``***`` in the UI's rendered template
    view and in logs; the log line and the XCom value carry the URL redacted.

    :param hook_url: where Cincopa POSTs event JSON. (templated)
    :param events: ``*``, namespaces (``asset.*``) or events; a list or a comma string. (templated)
    :param security_key: the webhook's security key (the REST doc: used "to hash the URL" of a
        delivery; how is not documented). (templated, masked)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("hook_url", "events", "security_key")
    secret_fields = ("security_key",)
    secret_url_fields = ("hook_url",)

    def __init__(self, *, hook_url: str, security_key: str, events: str | list[str] = "*", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hook_url = hook_url
        self.events = events
        self.security_key = security_key

    def execute(self, context: Context) -> str:
        """Call ``webhook.set``."""
        self.hook.set_webhook(self.hook_url, security_key=self.security_key, events=self.events)
        shown = printable(redact(self.hook_url))
        self.log.info("Webhook %s set for events %s", shown, printable(self.events))
        return redact(self.hook_url)


class CincopaSetSlackWebhookOperator(_CincopaOperator):
    """
    Send Cincopa events to a Slack channel; returns the channel.

    The Slack hook URL is itself a credential: it is masked like a password.

    :param hook_url: the Slack incoming-webhook URL. (templated, masked)
    :param slack_channel: the channel. (templated)
    :param events: which events; Cincopa's default is all. (templated)
    :param slack_username: the sender's name. (templated)
    :param slack_icon: an emoji or image URL. (templated)
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("hook_url", "slack_channel", "events", "slack_username", "slack_icon")
    secret_fields = ("hook_url",)  # a Slack incoming-webhook URL is a credential as a whole

    def __init__(
        self,
        *,
        hook_url: str,
        slack_channel: str,
        events: str | list[str] | None = None,
        slack_username: str | None = None,
        slack_icon: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.hook_url = hook_url
        self.slack_channel = slack_channel
        self.events = events
        self.slack_username = slack_username
        self.slack_icon = slack_icon

    def execute(self, context: Context) -> str:
        """Call ``webhook.set_slack``."""
        self.hook.set_slack_webhook(
            self.hook_url,
            slack_channel=self.slack_channel,
            events=self.events,
            slack_username=self.slack_username,
            slack_icon=self.slack_icon,
        )
        return self.slack_channel


class CincopaDeleteWebhookOperator(_DeleteOperator):
    """
    Delete the webhook for ``hook_url``; returns True when deleted, False when already gone.

    :param hook_url: the webhook's URL. (templated)
    :param missing_ok: succeed when there is no such webhook.
    :param cincopa_conn_id: the Airflow connection with the api_token.
    """

    template_fields: Sequence[str] = ("hook_url",)
    secret_url_fields = ("hook_url",)

    def __init__(self, *, hook_url: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hook_url = hook_url

    def execute(self, context: Context) -> bool:
        """Call ``webhook.delete``."""
        return self.hook.delete_webhook(self.hook_url, missing_ok=self.missing_ok)
