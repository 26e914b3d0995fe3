"""Hook for the Cincopa REST API v2 and its upload host."""

from __future__ import annotations

from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa import __version__, get_provider_info
from airflow_provider_cincopa._compat import (
    BaseHook,
    aread_connection,
    legacy_connection_form_widgets,
    legacy_ui_field_behaviour,
)
from airflow_provider_cincopa.exceptions import CincopaError, CincopaInputError
from airflow_provider_cincopa.hooks import _async_client
from airflow_provider_cincopa.hooks._account import PortalsAPI, TokensAPI, WebhooksAPI
from airflow_provider_cincopa.hooks._assets import META_FIELDS, AssetsAPI, register_upload_url
from airflow_provider_cincopa.hooks._download import DownloadsAPI
from airflow_provider_cincopa.hooks._galleries import GalleriesAPI
from airflow_provider_cincopa.hooks._lineage import lineage_switch
from airflow_provider_cincopa.hooks._params import check_positive, clean_params
from airflow_provider_cincopa.hooks._request_policy import RequestFailed, for_call
from airflow_provider_cincopa.hooks._transport import (
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
    BackoffWithRetryAfter,
    ConnectionSettings,
    TransientError,
    base_url_from,
    describe,
    parse_api_answer,
    retry_when_retryable,
)
from airflow_provider_cincopa.redaction import aregister_secret, redact, register_secret

# META_FIELDS and register_upload_url stay importable from here, where they were first published.
__all__ = ["META_FIELDS", "CincopaHook", "register_upload_url", "user_agent"]

# requests, httpx and tenacity load on a hook's first call, not when a DAG file imports an
# operator: every DAG parse would pay for them (benchmarks/import_benchmark.py).
if TYPE_CHECKING:
    import requests
    from airflow.sdk import Connection
    from tenacity import Retrying


@cache
def user_agent() -> str:
    """``airflow-provider-cincopa/<version> CPython/<version> <OS>/<release>`` (requests-toolbelt)."""
    from requests_toolbelt.utils.user_agent import user_agent as make

    return str(make("airflow-provider-cincopa", __version__))


class CincopaHook(DownloadsAPI, AssetsAPI, GalleriesAPI, TokensAPI, PortalsAPI, WebhooksAPI, BaseHook):
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

    def _settings_from(self, conn: Connection, *, mask: bool = True) -> ConnectionSettings:
        token = conn.password or ""
        if mask:  # the async path masks it with aregister_secret instead
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
            max_parallel_chunks=_parallel_chunks(extra.get("max_parallel_chunks")),
            lineage=lineage_switch(extra.get("lineage", True), self.cincopa_conn_id),
        )

    @cached_property
    def session(self) -> requests.Session:
        """
        One keep-alive session per hook, under the request policy; its pool fits parallel chunk uploads.

        The upload engine posts its chunks through it too, so the policy
        (:mod:`~airflow_provider_cincopa.hooks._request_policy`: no redirects, a deadline per
        attempt, bounded answers, TLS failures not retried) covers the upload host as well.
        """
        from airflow_provider_cincopa.hooks._request_policy import policy_session

        return policy_session(user_agent=user_agent())

    def close(self) -> None:
        """Close the HTTP session (and its pooled connections)."""
        if "session" in self.__dict__:
            self.session.close()
            del self.__dict__["session"]

    def retrying(self, *, idempotent: bool) -> Retrying:
        """The retry policy for one call; ``idempotent=False`` retries only requests never sent."""
        from tenacity import Retrying, stop_after_attempt, stop_after_delay

        settings = self.settings
        return Retrying(
            stop=stop_after_attempt(settings.retries + 1) | stop_after_delay(settings.retry_deadline),
            wait=BackoffWithRetryAfter(),
            retry=retry_when_retryable(idempotent=idempotent),
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
        query = {"api_token": settings.token, **clean_params(params)}
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
        except CincopaError as exc:  # the request policy's: a deadline, a redirect, TLS, a size
            raise for_call(exc, method) from None
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
            self._async_settings = await _async_client.read_settings(self.cincopa_conn_id, self._aread_settings)
        settings = self._async_settings
        if self._aclient is None:
            # Shared by every hook on this event loop and connection: one SSL context, one pool.
            self._aclient = _async_client.acquire(self.cincopa_conn_id, user_agent=user_agent())
        query = {"api_token": settings.token, **clean_params(params)}
        try:
            answer = await self._aclient.request(
                http_method, f"{settings.base_url}{method}.json", query, timeout=settings.timeout
            )
        except RequestFailed as exc:
            raise TransientError(f"Could not reach Cincopa for {method}: {redact(exc)}", method=method) from None
        except CincopaError as exc:  # the request policy's: a redirect, TLS, a size
            raise for_call(exc, method) from None
        return parse_api_answer(method, answer.status_code, answer.text, answer.retry_after)

    async def _aread_settings(self) -> ConnectionSettings:
        settings = await aread_connection(self.cincopa_conn_id, lambda conn: self._settings_from(conn, mask=False))
        await aregister_secret(settings.token)
        return settings

    async def aclose(self) -> None:
        """Let go of the shared async client; the last hook on this event loop to do so closes it."""
        if self._aclient is not None:
            client, self._aclient = self._aclient, None
            _async_client.release(self.cincopa_conn_id, client)


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
    check_positive(number, f"The cincopa connection's extra {name!r}", allow_zero=allow_zero)
    return number


def _parallel_chunks(value: Any) -> int | None:
    # Not set: the upload's own default stays in place.
    if value in (None, ""):
        return None
    number = _positive(value, 1, "max_parallel_chunks", allow_zero=False)
    if number != int(number):  # _positive has already refused 0 and below
        raise CincopaInputError(
            f"The cincopa connection's extra 'max_parallel_chunks' must be a whole number of at least 1, got {value!r}"
        )
    return int(number)


def _request_may_have_been_sent(exc: requests.RequestException) -> bool:
    # Only a refused or timed-out connect proves Cincopa never saw the request.
    import requests
    from urllib3.exceptions import NewConnectionError

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return not isinstance(reason, NewConnectionError)
