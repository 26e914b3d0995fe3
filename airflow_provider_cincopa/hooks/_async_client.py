"""
What the triggers on one event loop share per connection id: an HTTP client and the connection read.

A triggerer runs hundreds of triggers on one event loop. A client each would build an SSL context
each (~20 ms of CPU: ``load_verify_locations``) and open a TCP connection each; the shared client
uses one SSL context for the process and polls over a small keep-alive pool
(:mod:`~airflow_provider_cincopa.hooks._lean_http`; httpx when a proxy applies, by the same rule
as the sync path: :func:`~airflow_provider_cincopa.hooks._request_policy.proxy_for`). Both follow
the request policy of that module: no redirect followed, ``timeout`` bounding the whole request,
the answer capped in size, TLS failures no retry can fix refused by name; both fail with its one
:class:`~airflow_provider_cincopa.hooks._request_policy.RequestFailed`. The client holds
no secret: the api_token travels in each request's query string, never in the client, so sharing
it cannot carry one connection's token into another's requests (and the key keeps connection ids
apart all the same). Reference-counted: once the last trigger has let go, the client is closed
after :data:`IDLE_CLOSE_SECONDS` unless another one takes it up meanwhile (triggers come and go
all the time; closing at once would rebuild the pool for each). A request cancelled midway (a
trigger killed) only discards its own connection; the client stays usable.

The connection read is shared too, by :func:`read_settings`: triggers of one connection id that
start on one event loop within :data:`SETTINGS_TTL` seconds of a read use that read (and one read
in flight serves every trigger waiting for it) instead of a round trip to the triggerer's
supervisor and the API server each. That is safe because a triggerer resolves a connection id
the same way for every trigger it runs (its supervisor's one API client asks for it, whatever
the trigger); the cost is that a token edited in Airflow reaches triggers that start up to
:data:`SETTINGS_TTL` seconds later, where a running trigger keeps the token it started with in
any case. A failed read is not kept: the next trigger reads again.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode, urlsplit

from airflow_provider_cincopa.hooks._request_policy import (
    AnswerBuffer,
    RequestFailed,
    answer_text,
    proxy_for,
    refuse_redirect,
    tls_refusal,
    within,
)

if TYPE_CHECKING:
    import ssl

    import httpx

    from airflow_provider_cincopa.hooks._lean_http import Answer, Pool

T = TypeVar("T")

#: How long an unused shared client stays open for the next trigger.
IDLE_CLOSE_SECONDS = 5.0
#: Seconds a connection read serves triggers of the same connection id that start after it.
SETTINGS_TTL = 10.0
#: Requests in flight (and connections, all kept alive) per shared client and API host. A
#: thousand triggers polling every 15 s make ~70 short calls a second: 16 connections carry that
#: even at 100 ms a call. Waiting callers queue in order for a free connection.
MAX_CONNECTIONS = 16


class SharedClient:
    """
    HTTP for every trigger of one connection id on one event loop.

    Requests go through one :class:`~airflow_provider_cincopa.hooks._lean_http.Pool` per API
    origin, or through one ``httpx.AsyncClient`` per proxy (gated at :data:`MAX_CONNECTIONS`) for
    an origin that :func:`~airflow_provider_cincopa.hooks._request_policy.proxy_for` sends
    through a proxy.

    :param user_agent: the ``User-Agent`` header.
    """

    def __init__(self, *, user_agent: str) -> None:
        self.user_agent = user_agent
        self.users = 0
        self.closed = False
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._proxied: dict[str, httpx.AsyncClient] = {}
        self._gate = asyncio.Semaphore(MAX_CONNECTIONS)

    async def request(self, method: str, url: str, query: dict[str, Any], *, timeout: float) -> Answer:
        """
        ``method url?query`` (``GET``, or ``POST`` with an empty body); waits for a free connection first.

        :param timeout: seconds for the whole request, the wait for a connection included.
        :raises RequestFailed: no complete answer within ``timeout`` seconds.
        :raises CincopaRedirectError: the answer is a redirect (none is followed).
        :raises CincopaTlsError: the certificate does not verify, or the server does not speak TLS.
        :raises CincopaAnswerTooLargeError: the answer is larger than the cap.
        """
        parts = urlsplit(url)
        scheme, host = parts.scheme, parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, host, port)
        pool = self._pools.get(key)
        if pool is None:
            proxy = proxy_for(url)
            if proxy is not None:
                answer = await self._via_httpx(proxy, method, url, query, timeout)
                refuse_redirect(url, answer.status_code, answer.location)
                return answer
            pool = self._pools[key] = self._new_pool(scheme, host, port)
        answer = await pool.request(method, f"{parts.path or '/'}?{urlencode(query)}", timeout=timeout)
        refuse_redirect(url, answer.status_code, answer.location)
        return answer

    def _new_pool(self, scheme: str, host: str, port: int) -> Pool:
        from airflow_provider_cincopa.hooks._lean_http import Pool

        context = ssl_context() if scheme == "https" else None
        return Pool(scheme, host, port, size=MAX_CONNECTIONS, user_agent=self.user_agent, ssl_context=context)

    async def _via_httpx(self, proxy: str, method: str, url: str, query: dict[str, Any], timeout: float) -> Answer:
        import httpx

        client = self._proxied.get(proxy)
        if client is None:
            limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
            # trust_env=False: the proxy is the one proxy_for() chose, not httpx's own reading.
            client = self._proxied[proxy] = httpx.AsyncClient(
                headers={"User-Agent": self.user_agent},
                verify=ssl_context(),
                limits=limits,
                proxy=proxy,
                trust_env=False,
            )
        try:
            return await within(timeout, self._httpx_exchange(client, method, url, query, timeout))
        except (httpx.HTTPError, asyncio.TimeoutError) as exc:
            refusal = tls_refusal(exc, url)
            if refusal is not None:
                raise refusal from None
            raise RequestFailed(f"{type(exc).__name__}: {exc}") from None

    async def _httpx_exchange(
        self, client: httpx.AsyncClient, method: str, url: str, query: dict[str, Any], timeout: float
    ) -> Answer:
        from airflow_provider_cincopa.hooks._lean_http import Answer

        async with self._gate, client.stream(method, url, params=query, timeout=timeout) as response:
            buffer = AnswerBuffer(url, response.headers.get("Content-Length"))
            async for data in response.aiter_bytes():  # decompressed, as the cap counts
                buffer.add(data)
        return Answer(
            response.status_code,
            answer_text(buffer.body(), response.headers.get("Content-Type")),
            response.headers.get("Retry-After"),
            response.headers.get("Location"),
        )

    def connections_opened(self) -> int:
        """TCP connections the lean pools opened so far (for tests and benchmarks)."""
        return sum(pool.opened for pool in self._pools.values())

    async def aclose(self) -> None:
        """Close every pool and the proxy client."""
        self.closed = True
        for pool in self._pools.values():
            await pool.aclose()
        for client in self._proxied.values():
            await client.aclose()


_ssl_lock = threading.Lock()
_ssl_context: ssl.SSLContext | None = None


def ssl_context() -> ssl.SSLContext:
    """
    The process's one client SSL context: httpx's (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``).

    Built once (~20 ms of CPU); an ``SSLContext`` only holds the trust store and settings, so every
    connection id and event loop can use it.
    """
    global _ssl_context
    with _ssl_lock:
        if _ssl_context is None:
            import httpx

            context = httpx.create_ssl_context()
            context.set_alpn_protocols(["http/1.1"])
            _ssl_context = context
        return _ssl_context


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedClient]] = weakref.WeakKeyDictionary()
_closing: set[asyncio.Task[None]] = set()


def acquire(conn_id: str, *, user_agent: str) -> SharedClient:
    """The shared client of this event loop for ``conn_id``; pair each call with :func:`release`."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    shared = per_loop.get(conn_id)
    if shared is None or shared.closed:
        shared = per_loop[conn_id] = SharedClient(user_agent=user_agent)
    shared.users += 1
    return shared


def release(conn_id: str, shared: SharedClient) -> None:
    """Let go of ``shared``; once nobody uses it for :data:`IDLE_CLOSE_SECONDS`, it is closed."""
    shared.users -= 1
    if shared.users <= 0:
        loop = asyncio.get_running_loop()
        loop.call_later(IDLE_CLOSE_SECONDS, _close_if_idle, loop, conn_id, shared)


def _close_if_idle(loop: asyncio.AbstractEventLoop, conn_id: str, shared: SharedClient) -> None:
    per_loop = _clients.get(loop, {})
    if per_loop.get(conn_id) is shared and shared.users <= 0:
        del per_loop[conn_id]
        # Kept referenced until done: the loop holds only weak references to tasks.
        _closing.add(task := loop.create_task(shared.aclose()))
        task.add_done_callback(_closing.discard)


def open_clients() -> int:
    """How many shared clients this event loop has open (for tests and benchmarks)."""
    return len(_clients.get(asyncio.get_running_loop(), {}))


def shared_client(conn_id: str) -> SharedClient | None:
    """This event loop's shared client for ``conn_id``, if one is open (for tests and benchmarks)."""
    return _clients.get(asyncio.get_running_loop(), {}).get(conn_id)


class _Read:
    __slots__ = ("done_at", "task")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.done_at: float | None = None

    def fresh(self) -> bool:
        if self.done_at is None:
            return True  # still in flight: wait for it
        if self.task.cancelled() or self.task.exception():
            return False
        return time.monotonic() - self.done_at <= SETTINGS_TTL


_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, _Read]] = weakref.WeakKeyDictionary()


async def read_settings(conn_id: str, read: Callable[[], Awaitable[T]]) -> T:
    """
    ``await read()`` for ``conn_id``, shared with the triggers of this event loop (see the module doc).

    The read runs in a task of its own: a trigger cancelled while waiting for it does not cancel
    it for the others.
    """
    per_loop = _reads.setdefault(asyncio.get_running_loop(), {})
    entry = per_loop.get(conn_id)
    if entry is None or not entry.fresh():
        entry = per_loop[conn_id] = _Read(asyncio.ensure_future(read()))
        entry.task.add_done_callback(functools.partial(_read_done, per_loop, conn_id, entry))
    result: T = await asyncio.shield(entry.task)
    return result


def _read_done(per_loop: dict[str, _Read], conn_id: str, entry: _Read, task: asyncio.Task[Any]) -> None:
    entry.done_at = time.monotonic()
    if (entry.task.cancelled() or entry.task.exception()) and per_loop.get(conn_id) is entry:
        del per_loop[conn_id]  # a failed read is not kept
