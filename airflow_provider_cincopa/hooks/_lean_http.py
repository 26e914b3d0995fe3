"""
A small HTTP/1.1 keep-alive pool for the triggers' API calls: asyncio streams and h11.

Why not ``httpx.AsyncClient`` here: a status poll is a short GET with a small JSON answer, and a
triggerer makes a thousand of them at once. httpx spent ~1.5-3.5 ms of CPU on each (its URL and
header models, then httpcore's pool, which checks every pooled connection through anyio's typed
attributes and a ``poll()`` syscall on each request event); this pool spends ~0.3 ms, most of it
in h11 (benchmarks/trigger_benchmark.py, docs/performance.md). h11 is the HTTP/1.1 state machine
httpcore and uvicorn are built on, so the framing (Content-Length, chunked, keep-alive, a server's
``Connection: close``) is the one httpx would have used. What this pool does not do, httpx still
does: :mod:`airflow_provider_cincopa.hooks._async_client` sends requests through httpx whenever an
``HTTP(S)_PROXY`` / ``ALL_PROXY`` setting applies to the API's host.

Each connection carries one request at a time; the pool's idle queue is also its gate, so at most
``size`` requests are in flight and every other caller waits its turn in order. A connection is
put back only after a complete exchange that both sides may continue; a request that failed, timed
out or was cancelled midway aborts its own connection and frees its slot, so the pool stays usable.

The request policy (:mod:`~airflow_provider_cincopa.hooks._request_policy`) holds here as on the
sync path: ``timeout`` bounds the whole request, the wait for a free connection included; the
answer is capped in size (after decompression: a server may send gzip although we ask for
``identity``) and decoded in its declared charset; a certificate or a plain-HTTP server behind
https is refused by name. Redirects are refused by the caller, for this pool and httpx alike.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass, field

import h11

from airflow_provider_cincopa.hooks._request_policy import (
    AnswerBuffer,
    RequestFailed,
    answer_text,
    tls_refusal,
    within,
)

#: Bytes read from the socket at a time.
READ_SIZE = 65536


@dataclass(frozen=True)
class Answer:
    """
    One HTTP answer: what :func:`~airflow_provider_cincopa.hooks._transport.parse_api_answer` needs.

    :param status_code: the HTTP status.
    :param text: the body, decoded.
    :param retry_after: the ``Retry-After`` header, if any.
    :param location: the ``Location`` header, if any (a redirect is refused, not followed).
    """

    status_code: int
    text: str = field(repr=False)  # an answer may hold a secret (a temp token)
    retry_after: str | None = None
    location: str | None = None


class _Connection:
    __slots__ = ("protocol", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.protocol = h11.Connection(h11.CLIENT)

    def reusable(self) -> bool:
        # at_eof(): the server closed an idle keep-alive connection (its FIN has been read).
        return (
            self.protocol.our_state is h11.IDLE
            and self.protocol.their_state is h11.IDLE
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def abort(self) -> None:
        self.writer.transport.abort()


class Pool:
    """
    At most ``size`` kept-alive connections to one origin, one request each at a time.

    :param scheme: ``http`` or ``https``.
    :param host: the host name or address (no brackets).
    :param port: the TCP port.
    :param size: connections, and so requests in flight.
    :param user_agent: the ``User-Agent`` header.
    :param ssl_context: the context for ``https`` (shared by every pool; one is ~20 ms to build).
    """

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        size: int,
        user_agent: str,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.scheme, self.host, self.port = scheme, host, port
        self._ssl = ssl_context if scheme == "https" else None
        default_port = 443 if scheme == "https" else 80
        name = f"[{host}]" if ":" in host else host
        self._headers = [
            ("Host", name if port == default_port else f"{name}:{port}"),
            ("User-Agent", user_agent),
            ("Accept", "*/*"),
            ("Accept-Encoding", "identity"),  # h11 does not decode; Cincopa's answers are small
        ]
        self._size = size
        self._idle: asyncio.LifoQueue[_Connection | None] = asyncio.LifoQueue()
        for _ in range(size):
            self._idle.put_nowait(None)  # a free slot, connected when first used
        self._closed = False
        #: TCP connections opened so far (for tests and benchmarks).
        self.opened = 0

    async def request(self, method: str, target: str, *, timeout: float) -> Answer:
        """
        Send ``method target`` (path and query string) and return the answer.

        :param timeout: seconds for the whole request: the wait for a free connection, connecting,
            sending and the whole answer.
        :raises RequestFailed: no complete answer arrived within ``timeout`` seconds, or the pool
            is closed (checked before waiting for a connection, and again after).
        :raises CincopaTlsError: the certificate does not verify, or the server does not speak TLS.
        :raises CincopaAnswerTooLargeError: the answer is larger than the cap.
        """
        if self._closed:
            raise RequestFailed("the shared client is closed")
        try:
            return await within(timeout, self._request(method, target))
        except (OSError, asyncio.TimeoutError, h11.ProtocolError) as exc:  # TimeoutError is an OSError
            refusal = tls_refusal(exc, f"{self.scheme}://{self._headers[0][1]}/")
            if refusal is not None:
                raise refusal from None
            raise RequestFailed(_describe(exc)) from None

    async def _request(self, method: str, target: str) -> Answer:
        slot = [await self._idle.get()]  # the exchange below replaces a stale connection in it
        try:
            if self._closed:
                raise RequestFailed("the shared client is closed")
            answer = await self._exchange(slot, method, target)
        except BaseException:  # cancelled and timed out included: the connection is mid-exchange, drop it
            if slot[0] is not None:
                slot[0].abort()
            self._idle.put_nowait(None)
            raise
        connection = slot[0]
        if connection is not None and connection.reusable() and not self._closed:
            self._idle.put_nowait(connection)
        else:
            if connection is not None:
                connection.abort()
            self._idle.put_nowait(None)
        return answer

    async def _exchange(self, slot: list[_Connection | None], method: str, target: str) -> Answer:
        connection = slot[0]
        if connection is None or not connection.reusable():
            if connection is not None:
                connection.abort()
            slot[0] = None
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self._ssl, limit=READ_SIZE)
            self.opened += 1
            connection = slot[0] = _Connection(reader, writer)
        protocol = connection.protocol
        headers = self._headers if method == "GET" else [*self._headers, ("Content-Length", "0")]
        connection.writer.write(
            protocol.send(h11.Request(method=method, target=target, headers=headers))
            + (protocol.send(h11.EndOfMessage()) or b"")
        )
        await connection.writer.drain()
        response: h11.Response | None = None
        body: _Body | None = None
        while True:
            event = protocol.next_event()
            if event is h11.NEED_DATA:
                protocol.receive_data(await connection.reader.read(READ_SIZE))  # b"" at EOF
            elif isinstance(event, h11.Response):
                response = event
                body = _Body(f"{self.scheme}://{self._headers[0][1]}/", _header(event, b"content-length"))
                body.decoding(_header(event, b"content-encoding"))
            elif isinstance(event, h11.Data) and body is not None:
                body.add(event.data)
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise RequestFailed("the server closed the connection without an answer")
            # h11.InformationalResponse (1xx): the real answer follows
        if protocol.our_state is h11.DONE and protocol.their_state is h11.DONE:
            protocol.start_next_cycle()
        if response is None or body is None:  # pragma: no cover - h11 gives a Response before EndOfMessage
            raise RequestFailed("the server sent no status line")
        return Answer(
            response.status_code,
            answer_text(body.finish(), _header(response, b"content-type")),
            _header(response, b"retry-after"),
            _header(response, b"location"),
        )

    async def aclose(self) -> None:
        """Close the idle connections; those in use are closed when their request ends."""
        self._closed = True
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection is not None:
                connection.writer.close()
        # Wake the requests waiting for a slot: each sees the pool closed, fails at once and puts
        # its slot back, which wakes the next one.
        for _ in range(self._size):
            self._idle.put_nowait(None)


class _Body:
    """An answer's body, decompressed when the server sent it compressed, within the size cap."""

    def __init__(self, url: str, content_length: str | None) -> None:
        self.buffer = AnswerBuffer(url, content_length)
        self._inflate: zlib._Decompress | None = None

    def decoding(self, content_encoding: str | None) -> None:
        """Decompress what follows if ``content_encoding`` is gzip or deflate (zlib-wrapped)."""
        if (content_encoding or "").strip().lower() in ("gzip", "x-gzip", "deflate"):
            self._inflate = zlib.decompressobj(wbits=47)  # 32 + 15: a gzip or a zlib header

    def add(self, data: bytes) -> None:
        if self._inflate is None:
            self.buffer.add(data)
            return
        try:
            # At most one byte past the cap (a small compressed body may inflate enormously): that
            # byte makes add() refuse the answer, so what is left compressed is never inflated.
            self.buffer.add(self._inflate.decompress(data, self.buffer.room))
        except zlib.error as exc:
            raise RequestFailed(f"the answer's compressed body is corrupt: {exc}") from None

    def finish(self) -> bytes:
        if self._inflate is not None:
            self.add(b"")
        return self.buffer.body()


def _header(event: h11.Response, name: bytes) -> str | None:
    return next((v.decode("latin-1") for k, v in event.headers if k == name), None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "TimeoutError: no answer in time"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
