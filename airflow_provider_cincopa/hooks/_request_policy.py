"""
The request policy every call to Cincopa's API and upload host follows, sync and async alike.

One place decides, for the requests session the hook and the upload engine share
(:class:`PolicySession`) and for the triggers' async client
(:mod:`~airflow_provider_cincopa.hooks._async_client`):

- **No redirect is followed.** Cincopa's API and upload host answer directly (no client on the
  wire-protocol page expects a redirect); a 3xx means a wrong base URL or a hostile middlebox.
  Following one to another host would hand it the api_token (in the query string) or a chunk's
  bytes and the upload ``hash``; following one from https to http would send them in clear.
  A same-origin redirect is refused too: a chunk's body is streamed once and cannot be replayed,
  and an http URL that a server upgrades to https is a connection to fix, which the error says.
  :func:`refuse_redirect` raises :class:`~airflow_provider_cincopa.exceptions.CincopaRedirectError`
  naming the status and the ``Location`` host, never its path or query.
- **A deadline per attempt.** A single number ``timeout`` bounds the whole attempt: connect, send
  and the whole answer (a server trickling its answer a byte at a time is cut there, where a
  socket timeout alone bounds each read). A ``(connect, read)`` pair, what the upload engine
  passes for a chunk, bounds connecting and each stalled send by ``connect`` and the whole answer,
  counted from the moment the chunk's last byte went out, by ``read``: a large chunk on a slow
  link is not cut while its bytes still move, and the host's answer (it may assemble the file
  first) gets what Cincopa's own uploader gives it.
- **Answers are bounded** by :data:`MAX_ANSWER_BYTES` (after decompression); a longer one is
  refused without being read whole (:class:`AnswerBuffer`).
- **Failures no retry can fix are not retried**: a certificate that does not verify, TLS spoken
  to a plain-HTTP server (:func:`tls_refusal`).
- **One proxy rule** (:func:`proxy_for`): the environment's ``HTTP(S)_PROXY`` / ``ALL_PROXY`` and
  ``NO_PROXY`` as requests reads them (CIDR ranges included), for both clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urljoin, urlsplit

from airflow_provider_cincopa.exceptions import (
    CincopaAnswerTooLargeError,
    CincopaError,
    CincopaRedirectError,
    CincopaTlsError,
)
from airflow_provider_cincopa.hooks._transport import TransientError
from airflow_provider_cincopa.redaction import printable, redact

if TYPE_CHECKING:
    import requests

T = TypeVar("T")

#: The largest answer read, in bytes (decompressed). An ``asset.list`` page of a thousand assets
#: with their details is a few MB; nothing Cincopa sends comes near this.
MAX_ANSWER_BYTES = 32 * 1024 * 1024
#: HTTP statuses that redirect (with a ``Location``).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: What OpenSSL says when a certificate does not verify.
_CERTIFICATE_FAILURES = ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "Hostname mismatch")
#: What OpenSSL says when the server answered a TLS handshake with something that is not TLS.
_NOT_TLS = ("WRONG_VERSION_NUMBER", "wrong version number", "record layer failure", "packet length too long")


class RequestFailed(Exception):
    """The async path got no complete answer: connect, reset, timeout, or a malformed HTTP answer."""


def origin(url: str) -> str:
    """``host`` or ``host:port`` of ``url``, escaped for a message (no userinfo, path or query)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "?"
    return printable(f"{host}:{port}" if port else host)


def refuse_redirect(url: str, status_code: int, location: str | None) -> None:
    """
    Raise when the answer to ``url`` is a redirect: none is followed (see the module doc).

    :param url: the URL asked for.
    :param status_code: the answer's status.
    :param location: its ``Location`` header, if any.
    :raises CincopaRedirectError: a 301/302/303/307/308 with a ``Location``.
    """
    if status_code not in REDIRECT_STATUSES or not location:
        return
    asked, target = urlsplit(url), urlsplit(urljoin(url, location))
    if asked.scheme == "https" and target.scheme == "http":
        kind = "from https to plain http"
    elif (asked.scheme, asked.netloc.rpartition("@")[2]) != (target.scheme, target.netloc.rpartition("@")[2]):
        kind = "to another host"
    else:
        kind = "on the same host"
    raise CincopaRedirectError(
        f"{origin(url)} answered HTTP {status_code}, a redirect {kind} ({origin(target.geturl())}): not followed, "
        "as the token or the upload's bytes would go with it; check the cincopa connection's host",
        status_code=status_code,
    )


def tls_refusal(exc: BaseException, url: str) -> CincopaTlsError | None:
    """
    The named error for a TLS failure that no retry can fix, or None for any other failure.

    :param exc: what the HTTP client raised (the cause is looked for in its message).
    :param url: the URL asked for.
    """
    said = f"{exc} {exc.__cause__ or ''} {exc.__context__ or ''}"
    if any(marker in said for marker in _CERTIFICATE_FAILURES):
        return CincopaTlsError(
            f"The TLS certificate of {origin(url)} does not verify: not retried. "
            f"{redact(said.strip())[:300]}. Point the connection at the real host, or make its CA "
            "trusted (SSL_CERT_FILE / REQUESTS_CA_BUNDLE)"
        )
    if any(marker in said for marker in _NOT_TLS):
        return CincopaTlsError(
            f"{origin(url)} does not speak TLS (a plain-HTTP server behind an https URL?): not retried. "
            f"{redact(said.strip())[:300]}"
        )
    return None


def proxy_for(url: str) -> str | None:
    """
    The proxy a request to ``url`` goes through, or None: the one rule of the sync and async paths.

    requests' reading of the environment: ``<scheme>_proxy`` or ``all_proxy`` (either case),
    unless ``no_proxy`` names the host (a domain suffix, ``host:port``, an address or a CIDR
    range such as ``10.0.0.0/8``, which urllib's own reading does not understand).
    """
    from requests.utils import get_environ_proxies

    proxies = get_environ_proxies(url)  # empty when no_proxy names the host
    return proxies.get(urlsplit(url).scheme) or proxies.get("all") or None


def charset_of(content_type: str | None) -> str:
    """The ``charset`` of a ``Content-Type``; UTF-8 (JSON's encoding) when it names none."""
    for part in (content_type or "").split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset" and value.strip(" \"'"):
            return value.strip(" \"'")
    return "utf-8"


def answer_text(body: bytes, content_type: str | None) -> str:
    """An answer's body as text, in its declared charset (undecodable bytes replaced)."""
    try:
        return body.decode(charset_of(content_type), errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


class AnswerBuffer:
    """
    An answer's body, gathered piece by piece and refused once it passes :data:`MAX_ANSWER_BYTES`.

    :param url: the URL asked for (its host names the answer in the error).
    :param content_length: the ``Content-Length`` header: a larger one is refused before reading.
    """

    def __init__(self, url: str, content_length: str | None = None) -> None:
        self.url = url
        self.limit = MAX_ANSWER_BYTES
        self._parts: list[bytes] = []
        self._size = 0
        if content_length is not None and content_length.strip().isdigit():
            self._check(int(content_length))

    @property
    def room(self) -> int:
        """Bytes that may still be added (plus one, to tell "exactly full" from "too large")."""
        return self.limit - self._size + 1

    def add(self, data: bytes) -> None:
        """Keep ``data``, or raise if the answer is now too large."""
        self._size += len(data)
        self._check(self._size)
        self._parts.append(data)

    def body(self) -> bytes:
        """Everything added so far."""
        return b"".join(self._parts)

    def _check(self, size: int) -> None:
        if size > self.limit:
            raise CincopaAnswerTooLargeError(
                f"The answer of {origin(self.url)} is larger than the provider's cap of "
                f"{self.limit // (1024 * 1024)} MiB: not read further (no Cincopa answer is that large)"
            )


def for_call(exc: CincopaError, what: str) -> CincopaError:
    """``exc`` with its message prefixed by the call it ended (``asset.list: ...``), ``method`` set."""
    exc.args = (f"{what}: {exc}", *exc.args[1:])
    exc.method = what
    return exc


async def within(timeout: float, awaitable: Awaitable[T]) -> T:
    """``await awaitable``, cut at ``timeout`` seconds (``TimeoutError``): the async path's deadline."""
    if sys.version_info >= (3, 11):  # no extra task per request
        async with asyncio.timeout(timeout):
            return await awaitable
    return await asyncio.wait_for(awaitable, timeout)


# -- the sync path: a requests session -------------------------------------------------------


class Deadline:
    """
    One attempt's deadline: at the time, the attempt's socket is shut down, which ends a read.

    :param total: seconds for the whole attempt from now (a single-number ``timeout``), or None.
    :param answer: seconds for the whole answer once the request is sent (a ``(connect, read)``
        pair's ``read``), or None.
    """

    def __init__(self, *, total: float | None, answer: float | None) -> None:
        self.started = time.monotonic()
        self.total, self.answer = total, answer
        self.fired = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    @classmethod
    def for_timeout(cls, timeout: Any) -> Deadline | None:
        """The deadline a requests ``timeout`` argument asks for (None: no timeout at all)."""
        if isinstance(timeout, tuple):
            return cls(total=None, answer=timeout[1]) if timeout[1] is not None else None
        return cls(total=float(timeout), answer=None) if timeout is not None else None

    @property
    def limit(self) -> float:
        """The seconds this deadline allows (for messages)."""
        return self.total if self.total is not None else self.answer or 0.0

    def arm(self, sock: Any) -> None:
        """The request is sent: shut ``sock`` down when the time is up."""
        if not isinstance(sock, socket.socket):
            return  # a tunnel through an https proxy: its socket timeouts still bound each read
        now = time.monotonic()
        left = self.started + self.total - now if self.total is not None else self.answer or 0.0
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(max(0.0, left), self._fire, (sock,))
            self._timer.daemon = True
            self._timer.start()

    def disarm(self) -> None:
        """The attempt is over: the timer must not touch a socket that goes back to the pool."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _fire(self, sock: socket.socket) -> None:
        with self._lock:
            if self._timer is None:
                return
            self.fired = True
            # socket.socket's own shutdown, also for an SSLSocket: it must not unwrap TLS under a
            # read in another thread, only make that read see the end of the stream.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def error(self, url: str) -> TransientError:
        """What an attempt cut by this deadline raises: a timeout, retried like any other."""
        what = "attempt" if self.total is not None else "answer"
        return TransientError(
            f"No complete answer from {origin(url)}: timed out at the {what}'s deadline of {self.limit:g} s"
        )


_attempt = threading.local()


def _deadline_mixin(base: type) -> type:
    class DeadlineConnection(base):  # type: ignore[misc, valid-type]
        """A urllib3 connection that arms the running attempt's deadline once its request is sent."""

        def getresponse(self, *args: Any, **kwargs: Any) -> Any:
            deadline: Deadline | None = getattr(_attempt, "deadline", None)
            if deadline is not None:
                deadline.arm(self.sock)
            return super().getresponse(*args, **kwargs)

    DeadlineConnection.__name__ = DeadlineConnection.__qualname__ = f"Deadline{base.__name__}"
    return DeadlineConnection


def policy_session(*, user_agent: str, pool_maxsize: int = 32) -> requests.Session:
    """
    A requests session that applies the request policy to every request it sends.

    :param user_agent: the ``User-Agent`` header.
    :param pool_maxsize: kept-alive connections per host (parallel chunks each need one).
    """
    session_class, adapter_class = _classes()
    session: requests.Session = session_class()
    session.headers["User-Agent"] = user_agent
    adapter = adapter_class(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@functools.cache
def _classes() -> tuple[type, type]:
    # Built on first use: requests and urllib3 load when a hook first calls, not at DAG parse.
    import requests
    from requests.adapters import HTTPAdapter
    from requests.sessions import merge_setting
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    class HTTPPool(HTTPConnectionPool):
        ConnectionCls = _deadline_mixin(HTTPConnection)

    class HTTPSPool(HTTPSConnectionPool):
        ConnectionCls = _deadline_mixin(HTTPSConnection)

    pools = {"http": HTTPPool, "https": HTTPSPool}

    class PolicyAdapter(HTTPAdapter):
        """requests' adapter over connections that honour the attempt's deadline."""

        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):
                manager.pool_classes_by_scheme = pools
            return manager

    class PolicySession(requests.Session):
        """See the module doc: no redirects, a deadline per attempt, a bounded answer, one proxy rule."""

        def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
            # requests' own merge, with proxy_for() as the one proxy rule: the environment is read
            # once per request, as before (that read is most of a request's overhead).
            if self.trust_env and verify in (True, None):
                verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or verify
            proxy = proxy_for(str(url)) if self.trust_env else None
            return {
                "proxies": {urlsplit(str(url)).scheme: proxy} if proxy else {},
                "stream": merge_setting(stream, self.stream),
                "verify": merge_setting(verify, self.verify),
                "cert": merge_setting(cert, self.cert),
            }

        def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
            kwargs.update(allow_redirects=False, stream=True)
            url = str(request.url)
            deadline = Deadline.for_timeout(kwargs.get("timeout"))
            _attempt.deadline = deadline
            try:
                response = super().send(request, **kwargs)
                with response:  # closed (its connection dropped) unless read to the end
                    refuse_redirect(url, response.status_code, response.headers.get("Location"))
                    buffer = AnswerBuffer(url, response.headers.get("Content-Length"))
                    for data in response.iter_content(65536):
                        buffer.add(data)
                response._content = buffer.body()
                response.encoding = charset_of(response.headers.get("Content-Type"))
            except requests.RequestException as exc:
                if deadline is not None and deadline.fired:
                    raise deadline.error(url) from None
                refusal = tls_refusal(exc, url)
                if refusal is not None:
                    raise refusal from None
                raise
            finally:
                _attempt.deadline = None
                if deadline is not None:
                    deadline.disarm()
            if deadline is not None and deadline.fired:
                # An answer without a length ends at EOF: one the deadline cut looks complete.
                raise deadline.error(url)
            return response

    return PolicySession, PolicyAdapter
