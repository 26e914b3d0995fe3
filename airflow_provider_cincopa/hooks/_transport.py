"""
Wire-level helpers shared by the sync (requests) and async (httpx) paths of the hook.

Parsing an answer and deciding whether a failure may be retried must be the same whichever HTTP
client made the call, so both live here, free of I/O.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_provider_cincopa.exceptions import (
    CincopaApiError,
    CincopaAuthError,
    CincopaHttpError,
    CincopaInputError,
    CincopaResponseError,
)
from airflow_provider_cincopa.redaction import redact

if TYPE_CHECKING:
    from tenacity import RetryCallState

DEFAULT_BASE_URL = "https://api.cincopa.com/v2/"
DEFAULT_TIMEOUT = 60.0
#: Cincopa's own uploader retries a chunk 10 times (wire-protocol page); API calls use the same default.
DEFAULT_RETRIES = 10
DEFAULT_RETRY_DEADLINE = 300.0
MAX_RETRY_AFTER = 120.0


@dataclass(frozen=True)
class ConnectionSettings:
    """What the hook reads from the Airflow connection."""

    base_url: str
    token: str
    timeout: float
    retries: int
    retry_deadline: float
    #: The connection extra ``max_parallel_chunks``: every upload's default unless one is given.
    max_parallel_chunks: int | None = None
    #: The connection extra ``lineage``: whether the hook reports to the hook lineage collector.
    lineage: bool = True

    def __repr__(self) -> str:
        # Printed while debugging a DAG, this lands in the task log: the token never goes with it.
        return (
            f"ConnectionSettings(base_url={redact(self.base_url)!r}, token='***', timeout={self.timeout!r}, "
            f"retries={self.retries!r}, retry_deadline={self.retry_deadline!r})"
        )

    __str__ = __repr__


class TransientError(CincopaHttpError):
    """
    A failure that may go away: network error, timeout, HTTP 429/5xx, an answer a proxy mangled.

    :param request_sent: False only when the request surely never reached Cincopa (connection
        refused, connect timeout); calls that create something are retried only then.
    :param retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        status_code: int | None = None,
        request_sent: bool = True,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, method=method, status_code=status_code)
        self.request_sent = request_sent
        self.retry_after = retry_after


class MalformedAnswerError(CincopaResponseError, TransientError):
    """
    An answer that is not the API's format: retried once (a proxy's hiccup), never for calls that create something.

    A second one in a row is not a hiccup (an HTML page with status 200 from a captive portal or a
    wrong host): :func:`is_retryable` stops there.
    """


def base_url_from(host: str | None, port: int | None, schema: str | None, scheme: str | None) -> str:
    """
    Build the API base URL from the connection's fields, always ending with ``/``.

    ``host`` may be a whole URL (``http://127.0.0.1:8080/v2/``, the JSON form) or a bare host name
    (the URI form ``cincopa://:TOKEN@api.cincopa.com/v2``, where Airflow puts ``v2`` in ``schema``).
    """
    if not host:
        return DEFAULT_BASE_URL
    if "://" in host:
        url = host
    else:
        netloc = f"{host}:{port}" if port else host
        url = f"{scheme or 'https'}://{netloc}/{(schema or 'v2').strip('/')}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CincopaInputError(f"The cincopa connection's API base URL {redact(url)!r} is not an http(s) URL")
    return url if url.endswith("/") else url + "/"


def parse_api_answer(method: str, status_code: int, text: str, retry_after: str | None = None) -> dict[str, Any]:
    """
    Turn one HTTP answer of ``method`` into its JSON object, or raise the matching error.

    :param method: the Cincopa method, e.g. ``asset.list``.
    :param status_code: the HTTP status.
    :param text: the body.
    :param retry_after: the ``Retry-After`` header, if any.
    """
    body = _json_object(text)
    said = _message(body) if body is not None else _snippet(text)
    if status_code == 403:
        raise CincopaAuthError(
            f"Cincopa refused {method} with HTTP 403 ({said}): check the cincopa connection's API token "
            "and that it has the permission this method needs",
            method=method,
            status_code=403,
        )
    if is_transient_status(status_code):
        raise TransientError(
            f"Cincopa answered {method} with HTTP {status_code}: {said}",
            method=method,
            status_code=status_code,
            retry_after=seconds_from_header(retry_after),
        )
    if status_code != 200:
        raise CincopaHttpError(
            f"Cincopa answered {method} with HTTP {status_code}: {said}",
            method=method,
            status_code=status_code,
        )
    if body is None:
        raise MalformedAnswerError(
            f"Cincopa's answer to {method} is not a JSON object: {said}", method=method, status_code=200
        )
    if "success" not in body:
        raise MalformedAnswerError(
            f"Cincopa's answer to {method} has no 'success' field: {said}", method=method, status_code=200
        )
    if body["success"] is not True:
        raise CincopaApiError(f"Cincopa refused {method}: {said}", method=method, status_code=200)
    return body


def is_transient_status(status_code: int) -> bool:
    """429 and every 5xx: a busy or failing server or gateway, whatever its body says."""
    return status_code == 429 or 500 <= status_code <= 599


def is_retryable(exc: BaseException, *, idempotent: bool, attempt: int = 1) -> bool:
    """
    Retry transient failures; for calls that create something, only when nothing was sent.

    :param exc: what attempt number ``attempt`` raised.
    :param idempotent: whether the call may be repeated after it may have arrived.
    :param attempt: the attempt that failed (1 for the first): an answer that is not the API's
        format is retried after the first attempt only.
    """
    if isinstance(exc, MalformedAnswerError) and attempt > 1:
        return False
    return isinstance(exc, TransientError) and (idempotent or not exc.request_sent)


def retry_when_retryable(*, idempotent: bool) -> Callable[[RetryCallState], bool]:
    """Tenacity's ``retry=`` for :func:`is_retryable`: the one rule of API calls and upload chunks."""

    def retry(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        return exc is not None and is_retryable(exc, idempotent=idempotent, attempt=state.attempt_number)

    return retry


class BackoffWithRetryAfter:
    """Exponential backoff with full jitter that yields to a server's ``Retry-After``."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial = initial
        self.maximum = maximum

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        ceiling = min(self.maximum, self.initial * 2 ** (retry_state.attempt_number - 1))
        return random.uniform(ceiling / 2, ceiling)


def describe(exc: BaseException) -> str:
    """A redacted one-line description of a network-level exception."""
    return redact(f"{type(exc).__name__}: {exc}")


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _message(body: dict[str, Any]) -> str:
    # Clients read `message`, falling back to `error` (wire-protocol page).
    said = body.get("message") or body.get("error") or "no message"
    return redact(str(said))[:500]


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    return redact(repr(flat[:200] + ("..." if len(flat) > 200 else "")))


def seconds_from_header(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff
