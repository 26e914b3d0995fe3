"""Hook for the Cincopa REST API v2 and its upload host."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from airflow_provider_cincopa import __version__, get_provider_info
from airflow_provider_cincopa._compat import (
    BaseHook,
    aread_connection,
    legacy_connection_form_widgets,
    legacy_ui_field_behaviour,
)
from airflow_provider_cincopa.exceptions import CincopaApiError, CincopaInputError, CincopaResponseError
from airflow_provider_cincopa.hooks import _async_client
from airflow_provider_cincopa.hooks._transport import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
    BackoffWithRetryAfter,
    ConnectionSettings,
    TransientError,
    base_url_from,
    describe,
    is_retryable,
    parse_api_answer,
)
from airflow_provider_cincopa.redaction import redact, register_secret
from airflow_provider_cincopa.types import UploadFromUrlStatus, UploadResult

# requests, httpx and tenacity load on a hook's first call, not when a DAG file imports an
# operator: every DAG parse would pay for them (benchmarks/import_benchmark.py).
if TYPE_CHECKING:
    import requests
    from airflow.sdk import Connection, ObjectStoragePath
    from tenacity import Retrying

    from airflow_provider_cincopa.hooks.upload import ProgressCallback, ResumeState

#: ``asset.set_meta`` fields (wire-protocol page).
META_FIELDS = (
    "caption",
    "description",
    "long_description",
    "related_link_text",
    "related_link_url",
    "reference_id",
    "tags",
)


@cache
def user_agent() -> str:
    """``airflow-provider-cincopa/<version> CPython/<version> <OS>/<release>`` (requests-toolbelt)."""
    from requests_toolbelt.utils.user_agent import user_agent as make

    return str(make("airflow-provider-cincopa", __version__))


class CincopaHook(BaseHook):
    """
    Talk to Cincopa's REST API v2 and upload host with the ``cincopa`` connection.

    The connection's password is the api_token and its host the API base URL (default
    ``https://api.cincopa.com/v2/``; a local emulator's URL works the same). Extras ``timeout``,
    ``retries`` and ``retry_deadline`` tune every call. Calls share one keep-alive session, are
    retried on network errors, HTTP 429 and 5xx (never on 403 or a refusal), and raise the
    :mod:`airflow_provider_cincopa.exceptions` hierarchy with the token redacted.

    .. seealso:: https://www.cincopa.com/media-platform/api-documentation-v2

    :param cincopa_conn_id: the Airflow connection holding the api_token.
    """

    conn_name_attr = "cincopa_conn_id"
    default_conn_name = "cincopa_default"
    conn_type = "cincopa"
    hook_name = "Cincopa"

    def __init__(self, cincopa_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cincopa_conn_id = cincopa_conn_id
        self._async_settings: ConnectionSettings | None = None
        self._aclient: _async_client.SharedClient | None = None

    # Airflow 3.0 and 3.1 build the connection form from these two; 3.2+ reads the same form from
    # get_provider_info() ("conn-fields", "ui-field-behaviour") and never calls them.
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """The form's extra fields (Airflow < 3.2), made from ``get_provider_info()``."""
        return legacy_connection_form_widgets(_connection_type_info()["conn-fields"])

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Hidden and relabelled fields and placeholders (Airflow < 3.2), from ``get_provider_info()``."""
        return legacy_ui_field_behaviour(_connection_type_info()["ui-field-behaviour"])

    # -- connection and transport -------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The connection, read once, with the token registered with the secrets masker."""
        return self._settings_from(self.get_connection(self.cincopa_conn_id))

    def _settings_from(self, conn: Connection) -> ConnectionSettings:
        token = conn.password or ""
        register_secret(token)
        if not token:
            raise CincopaInputError(
                f"The Airflow connection {self.cincopa_conn_id!r} has no API token: put the Cincopa "
                "api_token in its password field"
            )
        extra = conn.extra_dejson
        timeout = _positive(extra.get("timeout"), DEFAULT_TIMEOUT, "timeout", allow_zero=False)
        return ConnectionSettings(
            base_url=base_url_from(conn.host, conn.port, conn.schema, extra.get("scheme")),
            token=token,
            timeout=timeout,
            retries=int(_positive(extra.get("retries"), DEFAULT_RETRIES, "retries")),
            retry_deadline=_positive(extra.get("retry_deadline"), DEFAULT_RETRY_DEADLINE, "retry_deadline"),
        )

    @cached_property
    def session(self) -> requests.Session:
        """One keep-alive session per hook; its pool is wide enough for parallel chunk uploads."""
        import requests
        from requests.adapters import HTTPAdapter

        session = requests.Session()
        session.headers["User-Agent"] = user_agent()
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def close(self) -> None:
        """Close the HTTP session (and its pooled connections)."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def retrying(self, *, idempotent: bool) -> Retrying:
        """The retry policy for one call; ``idempotent=False`` retries only requests never sent."""
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

        settings = self.settings
        return Retrying(
            stop=stop_after_attempt(settings.retries + 1) | stop_after_delay(settings.retry_deadline),
            wait=BackoffWithRetryAfter(),
            retry=retry_if_exception(lambda exc: is_retryable(exc, idempotent=idempotent)),
            before_sleep=self.log_retry,
            reraise=True,
        )

    def log_retry(self, retry_state: Any) -> None:
        """Tenacity ``before_sleep`` hook: one redacted warning per retry."""
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        self.log.warning(
            "Retrying after attempt %d failed: %s", retry_state.attempt_number, redact(exc) if exc else "?"
        )

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        http_method: str = "GET",
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """
        Call one API method and return its JSON answer (``success`` is true).

        The api_token always travels in the query string, and so do the parameters, for GET and
        POST alike: that is what Cincopa's own clients send (wire-protocol page). ``None`` values
        are left out.

        :param method: the method name without ``.json``, e.g. ``asset.list``.
        :param params: the method's parameters.
        :param http_method: ``GET`` for reads, ``POST`` for writes as the REST doc shows.
        :param idempotent: False for calls that create something: they are retried only when the
            request surely never reached Cincopa.
        """
        for attempt in self.retrying(idempotent=idempotent):
            with attempt:
                return self._call_once(method, params or {}, http_method)
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    def _call_once(self, method: str, params: dict[str, Any], http_method: str) -> dict[str, Any]:
        import requests

        settings = self.settings
        query = {"api_token": settings.token, **_clean(params)}
        try:
            response = self.session.request(
                http_method, f"{settings.base_url}{method}.json", params=query, timeout=settings.timeout
            )
        except requests.RequestException as exc:
            # `from None`: requests' own message and traceback carry the URL, token included.
            raise TransientError(
                f"Could not reach Cincopa for {method}: {describe(exc)}",
                method=method,
                request_sent=_request_may_have_been_sent(exc),
            ) from None
        return parse_api_answer(method, response.status_code, response.text, response.headers.get("Retry-After"))

    # -- general ------------------------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        """Check the token; returns ``accid``, ``accemail``, ``useremail``, ``permissions``..."""
        return self.call("ping")

    def test_connection(self) -> tuple[bool, str]:
        """The connection form's Test button: ping, and say who we are or why it failed."""
        try:
            answer = self.ping()
        except Exception as exc:
            return False, redact(exc)
        permissions = ", ".join(p for p in str(answer.get("permissions", "")).split("|") if p)
        return True, (
            f"Connected to Cincopa account {answer.get('accid', '?')} as "
            f"{answer.get('useremail') or answer.get('accemail') or '?'}; permissions: {permissions or 'none'}"
        )

    def get_temp_token(
        self, *, ttl: int | None = None, sourceip: str | None = None, permissions: str | None = None
    ) -> str:
        """
        Create a temporary token for client-side calls (``token.get_temp``).

        :param ttl: lifetime in seconds.
        :param sourceip: the only IPv4 address allowed to use it.
        :param permissions: a pipe list such as ``asset.list|asset.get_tags``.
        :return: the token, registered with the secrets masker.
        """
        _check_positive(ttl, "ttl")
        params = {"ttl": ttl, "sourceip": sourceip, "permissions": permissions}
        return self._secret_field("token.get_temp", params, "token")

    # -- assets -------------------------------------------------------------------------------

    def list_assets(
        self,
        *,
        search: str | None = None,
        rid: str | list[str] | None = None,
        reference_id: str | None = None,
        tag: str | None = None,
        type: str | None = None,
        items_per_page: int = 100,
        details: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """
        Iterate lazily over every asset that matches, fetching one page at a time.

        :param search: free text matched against caption, file name and description.
        :param rid: one rid or several.
        :param reference_id: your own id set with :meth:`set_meta`.
        :param tag: a tag.
        :param type: ``video``, ``image``, ``audio``...
        :param items_per_page: page size.
        :param details: Cincopa's ``details`` flag, passed as is.
        """
        _check_positive(items_per_page, "items_per_page", allow_zero=False)
        params = {
            "search": search,
            "rid": _comma(rid),
            "reference_id": reference_id,
            "tag": tag,
            "type": type,
            "details": details,
            "items_per_page": items_per_page,
        }
        page = 1
        while True:
            answer = self.call("asset.list", {**params, "page": page})
            items, paging = answer.get("items"), answer.get("items_data") or {}
            if not isinstance(items, list):
                raise CincopaResponseError("Cincopa's answer to asset.list has no 'items' list", method="asset.list")
            yield from items
            pages = int(paging.get("pages_count") or 1)
            if page >= pages or not items:
                return
            page += 1

    def get_asset(self, rid: str) -> dict[str, Any]:
        """Return one asset, or raise :class:`CincopaApiError` naming the unknown rid."""
        for item in self.list_assets(rid=rid, items_per_page=1):
            if item.get("rid") == rid:
                return item
        raise CincopaApiError(f"No Cincopa asset has rid {rid!r}", method="asset.list")

    def asset_exists(self, rid: str) -> bool:
        """True when an asset with this rid exists."""
        return any(item.get("rid") == rid for item in self.list_assets(rid=rid, items_per_page=1))

    def get_tags(self) -> dict[str, int]:
        """Every tag in the account with how many assets carry it (``asset.get_tags``)."""
        cloud = self.call("asset.get_tags").get("tag_cloud") or {}
        return {str(tag): int(count) for tag, count in dict(cloud).items()}

    def set_meta(self, rid: str, **fields: Any) -> dict[str, Any]:
        """
        Set an asset's metadata (``asset.set_meta``).

        :param rid: the asset.
        :param fields: any of caption, description, long_description, related_link_text,
            related_link_url, reference_id, tags (a list or a comma string).
        """
        unknown = sorted(set(fields) - set(META_FIELDS))
        if unknown:
            raise CincopaInputError(f"asset.set_meta does not know {unknown}; use {list(META_FIELDS)}")
        values = {k: v for k, v in fields.items() if v is not None}
        if "tags" in values:
            values["tags"] = _comma(values["tags"])
        if not values:
            raise CincopaInputError(f"Nothing to set on asset {rid!r}: pass at least one of {list(META_FIELDS)}")
        return self.call("asset.set_meta", {"rid": _required(rid, "rid"), **values}, http_method="POST")

    def resync_asset(self, rid: str) -> dict[str, Any]:
        """Ask Cincopa to regenerate missing versions of an asset (``asset.resync``)."""
        return self.call("asset.resync", {"rid": _required(rid, "rid")}, http_method="POST")

    def delete_asset(self, rid: str, *, missing_ok: bool = False) -> bool:
        """
        Delete an asset for good (``asset.delete``).

        :param rid: the asset.
        :param missing_ok: return False instead of raising when no asset has this rid.
        :return: True when deleted, False when it was already gone and ``missing_ok``.
        """
        try:
            self.call("asset.delete", {"rid": _required(rid, "rid")}, http_method="POST")
        except CincopaApiError:
            # Cincopa's refusal text is not a stable contract: ask whether the asset exists instead.
            if missing_ok and not self.asset_exists(rid):
                return False
            raise
        return True

    def get_upload_url(
        self,
        *,
        gallery_fid: str | None = None,
        attach_to_rid: str | None = None,
        attach_type: str | None = None,
        ttl: int | None = None,
        sourceip: str | None = None,
    ) -> str:
        """
        Get a URL to POST a file to (``asset.get_upload_url``).

        :param gallery_fid: add the new asset to this gallery.
        :param attach_to_rid: attach the file to this asset instead (needs ``attach_type``).
        :param attach_type: what the attached file is, e.g. ``thumb`` or ``subtitle-en-us``.
        :param ttl: how long the URL stays valid, in seconds.
        :param sourceip: the only IPv4 address allowed to use it.
        :return: the URL; its ``hash`` is a secret and is registered with the secrets masker.
        """
        if bool(attach_to_rid) != bool(attach_type):
            raise CincopaInputError("attach_to_rid and attach_type go together: give both or neither")
        _check_positive(ttl, "ttl")
        params = {
            "fid": gallery_fid,
            "rid": attach_to_rid,
            "type": attach_type,
            "ttl": ttl,
            "sourceip": sourceip,
        }
        url = str(self.call("asset.get_upload_url", params).get("upload_url") or "")
        if not url.startswith(("http://", "https://")):
            raise CincopaResponseError(
                "Cincopa's answer to asset.get_upload_url has no upload_url", method="asset.get_upload_url"
            )
        register_upload_url(url)
        return url

    def upload_file(
        self,
        source: str | ObjectStoragePath,
        *,
        gallery_fid: str | None = None,
        attach_to_rid: str | None = None,
        attach_type: str | None = None,
        filename: str | None = None,
        chunk_size: int | None = None,
        max_parallel_chunks: int | None = None,
        progress_callback: ProgressCallback | None = None,
        source_conn_id: str | None = None,
        resume: ResumeState | None = None,
        on_state: Callable[[ResumeState], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> UploadResult:
        """
        Upload a local or object-storage file to Cincopa, streamed in ranged reads.

        Files up to one chunk go in one request; larger ones in chunks, several in flight at
        once. Failed chunks are retried with backoff; an answer containing ``error`` stops the
        upload at once.

        :param source: a local path, a URL Airflow's object storage reads (``s3://...``,
            ``file://...``) or an ``ObjectStoragePath``.
        :param gallery_fid: add the new asset to this gallery.
        :param attach_to_rid: attach the file to this asset instead (needs ``attach_type``).
        :param attach_type: e.g. ``thumb``.
        :param filename: the name Cincopa shows; default the source's name.
        :param chunk_size: bytes per request (default 16 MiB).
        :param max_parallel_chunks: chunks in flight at once (default 4).
        :param progress_callback: called as ``callback(bytes_done, total_bytes)`` after each chunk.
        :param source_conn_id: the Airflow connection object storage uses to read ``source``.
        :param resume: the state a previous try saved through ``on_state``: only its missing
            ranges are sent.
        :param on_state: called with the resume state when the upload starts and after each chunk.
        :param cancel: an event that stops the upload when set (from ``on_kill``, say).
        """
        from airflow_provider_cincopa.hooks.upload import ChunkedUpload

        upload = ChunkedUpload(
            self,
            source,
            source_conn_id=source_conn_id,
            filename=filename,
            chunk_size=chunk_size,
            max_parallel_chunks=max_parallel_chunks,
            progress_callback=progress_callback,
            cancel=cancel,
        )
        return upload.run(
            lambda: self.get_upload_url(gallery_fid=gallery_fid, attach_to_rid=attach_to_rid, attach_type=attach_type),
            resume=resume,
            on_state=on_state,
        )

    def upload_from_url(
        self,
        url: str,
        *,
        gallery_fid: str | None = None,
        attach_to_rid: str | None = None,
        attach_type: str | None = None,
    ) -> str:
        """
        Start importing a file from a URL (``asset.upload_from_url``).

        Not retried once the request may have reached Cincopa: a retry could start a second import.

        :param url: an ``http(s)://`` URL Cincopa can download.
        :param gallery_fid: add the new asset to this gallery.
        :param attach_to_rid: attach the file to this asset instead (needs ``attach_type``).
        :param attach_type: e.g. ``thumb``.
        :return: the ``status_id`` to poll.
        """
        parts = urlsplit(str(url or ""))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CincopaInputError(
                f"Cincopa can only import from an http(s) URL, not {redact(url)!r}; upload local or "
                "object-storage files with upload_file instead"
            )
        if bool(attach_to_rid) != bool(attach_type):
            raise CincopaInputError("attach_to_rid and attach_type go together: give both or neither")
        params = {"input": url, "fid": gallery_fid, "rid": attach_to_rid, "type": attach_type}
        answer = self.call("asset.upload_from_url", params, http_method="POST", idempotent=False)
        # The answer names it `status_id`, not `id` (wire-protocol page, seen in vendor code).
        status_id = str(answer.get("status_id") or "")
        if not status_id:
            raise CincopaResponseError(
                "Cincopa's answer to asset.upload_from_url has no status_id", method="asset.upload_from_url"
            )
        return status_id

    def get_upload_from_url_status(self, status_id: str) -> UploadFromUrlStatus:
        """Poll an import (``asset.upload_from_url_get_status``), normalised to running/done/failed."""
        answer = self.call("asset.upload_from_url_get_status", {"status_id": _required(status_id, "status_id")})
        return UploadFromUrlStatus.from_answer(status_id, answer)

    async def aget_upload_from_url_status(self, status_id: str) -> UploadFromUrlStatus:
        """The async twin of :meth:`get_upload_from_url_status`, for triggers (httpx, one attempt)."""
        params = {"status_id": _required(status_id, "status_id")}
        return UploadFromUrlStatus.from_answer(status_id, await self.acall("asset.upload_from_url_get_status", params))

    async def aabort_upload_from_url(self, status_id: str) -> dict[str, Any]:
        """The async twin of :meth:`abort_upload_from_url`, for a trigger's ``on_kill``."""
        params = {"status_id": _required(status_id, "status_id")}
        return await self.acall("asset.upload_from_url_abort", params, http_method="POST")

    async def acall(self, method: str, params: dict[str, Any], *, http_method: str = "GET") -> dict[str, Any]:
        """
        One async API call through the client this event loop shares per connection, without retries.

        Triggers poll again on their own schedule, so a failed poll is simply the next poll's job.
        The connection is read once per hook, asynchronously as the triggerer requires, and that
        read is shared with the hooks of the same connection id that start on this event loop
        within a few seconds (``_async_client.read_settings`` says why that is safe).

        :param method: the method name without ``.json``.
        :param params: its parameters.
        :param http_method: ``GET`` or ``POST`` (the parameters go in the query string either way).
        """
        if self._async_settings is None:
            self._async_settings = await _async_client.read_settings(
                self.cincopa_conn_id, lambda: aread_connection(self.cincopa_conn_id, self._settings_from)
            )
        settings = self._async_settings
        if self._aclient is None:
            # Shared by every hook on this event loop and connection: one SSL context, one pool.
            self._aclient = _async_client.acquire(self.cincopa_conn_id, user_agent=user_agent())
        query = {"api_token": settings.token, **_clean(params)}
        try:
            answer = await self._aclient.request(
                http_method, f"{settings.base_url}{method}.json", query, timeout=settings.timeout
            )
        except _async_client.RequestFailed as exc:
            raise TransientError(f"Could not reach Cincopa for {method}: {redact(exc)}", method=method) from None
        return parse_api_answer(method, answer.status_code, answer.text, answer.retry_after)

    async def aclose(self) -> None:
        """Let go of the shared async client; the last hook on this event loop to do so closes it."""
        if self._aclient is not None:
            client, self._aclient = self._aclient, None
            _async_client.release(self.cincopa_conn_id, client)

    def abort_upload_from_url(self, status_id: str) -> dict[str, Any]:
        """Stop a running import (``asset.upload_from_url_abort``)."""
        params = {"status_id": _required(status_id, "status_id")}
        return self.call("asset.upload_from_url_abort", params, http_method="POST")

    # -- upload page --------------------------------------------------------------------------

    def get_upload_token(self, *, gallery_fid: str | None = None, ttl: int | None = None) -> str:
        """
        Create a token for the invite-upload page (``upload.get_upload_token``).

        :param gallery_fid: the gallery uploads go to.
        :param ttl: lifetime in seconds.
        :return: the token, registered with the secrets masker.
        """
        _check_positive(ttl, "ttl")
        return self._secret_field("upload.get_upload_token", {"fid": gallery_fid, "ttl": ttl}, "token")

    def upload_iframe_url(self, *, gallery_fid: str | None = None, rrid: str | None = None, ttl: int = 3600) -> str:
        """
        Build the ``upload.iframe`` URL to embed in a page.

        The page answers HTML, not JSON, so the hook only builds the URL. It carries a temporary
        token limited to ``upload.iframe`` rather than the connection's api_token, so the URL can
        be handed to a browser. Treat it as a secret all the same until it expires.

        :param gallery_fid: the gallery to manage, or
        :param rrid: your own reference for it (a post or object id).
        :param ttl: lifetime of the token in the URL, in seconds.
        """
        if not (gallery_fid or rrid):
            raise CincopaInputError("upload_iframe_url needs gallery_fid or rrid")
        token = self.get_temp_token(ttl=ttl, permissions="upload.iframe")
        query = urlencode(_clean({"api_token": token, "fid": gallery_fid, "rrid": rrid}))
        return f"{self.settings.base_url}upload.iframe?{query}"

    # -- portals (the REST doc's table pairs some paths with the wrong descriptions) ---------------

    def check_portal(self, subdomain: str) -> bool:
        """True when the portal subdomain is free (``portal.check``)."""
        return bool(self.call("portal.check", {"subdomain": _required(subdomain, "subdomain")}).get("available"))

    def cease_portal(self, subdomain: str) -> dict[str, Any]:
        """Claim a portal subdomain if it is available (``portal.cease``)."""
        return self._portal_write("portal.cease", subdomain)

    def rename_portal(self, subdomain: str, new_subdomain: str) -> dict[str, Any]:
        """Rename a portal (``portal.rename``)."""
        return self._portal_write("portal.rename", subdomain, new_subdomain=_required(new_subdomain, "new_subdomain"))

    def remove_portal(self, subdomain: str) -> dict[str, Any]:
        """Delete a portal for good (``portal.remove``)."""
        return self._portal_write("portal.remove", subdomain)

    def set_portal(self, subdomain: str, **settings: Any) -> dict[str, Any]:
        """Create or update a portal's settings (``portal.set``)."""
        return self._portal_write("portal.set", subdomain, **settings)

    def list_portals(self) -> list[dict[str, Any]]:
        """Every portal of the account (``portal.list``)."""
        return list(self.call("portal.list").get("portals") or [])

    def _portal_write(self, method: str, subdomain: str, **params: Any) -> dict[str, Any]:
        # Parameter names are not documented; `subdomain` is our reading of the method table.
        # Only portal.set is a plain overwrite and safe to retry after it may have arrived.
        params = {"subdomain": _required(subdomain, "subdomain"), **params}
        return self.call(method, params, http_method="POST", idempotent=method == "portal.set")

    # -- webhooks -----------------------------------------------------------------------------

    def list_webhooks(self) -> list[dict[str, Any]]:
        """Every webhook of the account (``webhook.list``)."""
        return list(self.call("webhook.list").get("webhooks") or [])

    def set_webhook(self, hook_url: str, *, security_key: str, events: str | list[str] = "*") -> dict[str, Any]:
        """
        Create or update the webhook for ``hook_url`` (``webhook.set``).

        Keyed by ``hook_url``, so repeating the call is harmless and it is retried like a read.

        :param hook_url: where Cincopa POSTs event JSON.
        :param security_key: the key Cincopa signs deliveries with (registered as a secret).
        :param events: ``*``, namespaces such as ``asset.*``, or events; a list or a comma string.
        """
        register_secret(security_key)
        params = {
            "hook_url": _required(hook_url, "hook_url"),
            "security_key": _required(security_key, "security_key"),
        }
        return self.call("webhook.set", {**params, "events": _comma(events)}, http_method="POST")

    def set_slack_webhook(
        self,
        hook_url: str,
        *,
        slack_channel: str,
        events: str | list[str] | None = None,
        slack_username: str | None = None,
        slack_icon: str | None = None,
    ) -> dict[str, Any]:
        """
        Send events to a Slack incoming webhook (``webhook.set_slack``).

        :param hook_url: the Slack webhook URL (a secret: registered with the masker).
        :param slack_channel: the channel to post to.
        :param events: which events; Cincopa's default is all.
        :param slack_username: the sender's name (Cincopa's default ``cincopa_bot``).
        :param slack_icon: an emoji or image URL.
        """
        register_secret(hook_url)
        params = {
            "hook_url": _required(hook_url, "hook_url"),
            "slack_channel": _required(slack_channel, "slack_channel"),
            "events": _comma(events),
            "slack_username": slack_username,
            "slack_icon": slack_icon,
        }
        return self.call("webhook.set_slack", params, http_method="POST")

    def delete_webhook(self, hook_url: str, *, missing_ok: bool = False) -> bool:
        """
        Delete the webhook for ``hook_url``.

        The REST doc spells the path ``webhhook.delete.json``; we call the real ``webhook.delete``.

        :param hook_url: the webhook's URL.
        :param missing_ok: return False instead of raising when there is no such webhook.
        """
        try:
            self.call("webhook.delete", {"hook_url": _required(hook_url, "hook_url")}, http_method="POST")
        except CincopaApiError:
            if missing_ok and all(w.get("hook_url") != hook_url for w in self.list_webhooks()):
                return False
            raise
        return True

    def _secret_field(self, method: str, params: dict[str, Any], field: str) -> str:
        value = str(self.call(method, params, http_method="POST", idempotent=False).get(field) or "")
        if not value:
            raise CincopaResponseError(f"Cincopa's answer to {method} has no {field!r}", method=method)
        register_secret(value)
        return value


def register_upload_url(url: str) -> None:
    """Register the secret parts of an upload URL (its ``hash``) with the secrets masker."""
    for key, value in parse_qsl(urlsplit(url).query):
        if key.lower() in ("hash", "d"):
            register_secret(value)


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in params.items() if value is not None and value != ""}


def _comma(value: str | list[str] | tuple[str, ...] | None) -> str | None:
    # Lists and comma strings both become Cincopa's comma list, without stray spaces.
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else value
    return ",".join(str(item).strip() for item in items if str(item).strip())


def _required(value: Any, name: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise CincopaInputError(f"{name} is required and was empty")
    return value


def _check_positive(value: float | None, name: str, *, allow_zero: bool = True) -> None:
    if value is not None and (value < 0 or (value == 0 and not allow_zero)):
        raise CincopaInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _connection_type_info() -> dict[str, Any]:
    [info] = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == CincopaHook.conn_type]
    return info


def _positive(value: Any, default: float, name: str, *, allow_zero: bool = True) -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise CincopaInputError(f"The cincopa connection's extra {name!r} must be a number, got {value!r}") from None
    _check_positive(number, f"The cincopa connection's extra {name!r}", allow_zero=allow_zero)
    return number


def _request_may_have_been_sent(exc: requests.RequestException) -> bool:
    # Only a refused or timed-out connect proves Cincopa never saw the request.
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError)
