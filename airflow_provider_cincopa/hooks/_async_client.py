"""
One ``httpx.AsyncClient`` per event loop and connection id, shared by every trigger polling there.

A triggerer runs hundreds of triggers on one event loop. A client each would build an SSL context
each (~20 ms of CPU: ``load_verify_locations``) and open a TCP connection each; one shared client
builds one context and polls over a small keep-alive pool. The client holds no secret: the
api_token travels in each request's query string, never in the client's defaults, so sharing it
cannot carry one connection's token into another's requests (and the key keeps connection ids
apart all the same). Reference-counted: once the last trigger has let go, the client is closed
after :data:`IDLE_CLOSE_SECONDS` unless another one takes it up meanwhile (triggers come and go
all the time; closing at once would rebuild the SSL context and the pool for each). A request
cancelled midway (a trigger killed) only discards its own pooled connection; the client stays usable.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


#: How long an unused shared client stays open for the next trigger.
IDLE_CLOSE_SECONDS = 5.0
#: Requests in flight (and connections, all kept alive) per shared client. A thousand triggers
#: polling every 15 s make ~70 short calls a second: 16 connections carry that even at 100 ms a
#: call. The gate matters as much as the pool: httpcore checks every pooled connection (a
#: syscall each) against its request queue on every event, so hundreds of queued polls over many
#: connections cost more CPU than the polls themselves (benchmarks/trigger_benchmark.py: 1,000
#: triggers took 15.6 CPU-s with httpx's default pool, 7.9 with 32 gated connections, 3.3 with 16).
MAX_CONNECTIONS = 16


class SharedClient:
    """An ``httpx.AsyncClient`` with a gate of :data:`MAX_CONNECTIONS` requests in flight."""

    def __init__(self, *, user_agent: str, timeout: float) -> None:
        import httpx

        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        self.client = httpx.AsyncClient(headers={"User-Agent": user_agent}, timeout=timeout, limits=limits)
        self.users = 0
        self._gate = asyncio.Semaphore(MAX_CONNECTIONS)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """``httpx.AsyncClient.request``, waiting for a free slot first."""
        async with self._gate:
            return await self.client.request(method, url, **kwargs)


_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, SharedClient]] = weakref.WeakKeyDictionary()
_closing: set[asyncio.Task[None]] = set()


def acquire(conn_id: str, *, user_agent: str, timeout: float) -> SharedClient:
    """The shared client of this event loop for ``conn_id``; pair each call with :func:`release`."""
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    shared = per_loop.get(conn_id)
    if shared is None or shared.client.is_closed:
        shared = per_loop[conn_id] = SharedClient(user_agent=user_agent, timeout=timeout)
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
        _closing.add(task := loop.create_task(shared.client.aclose()))
        task.add_done_callback(_closing.discard)


def open_clients() -> int:
    """How many shared clients this event loop has open (for tests and benchmarks)."""
    return len(_clients.get(asyncio.get_running_loop(), {}))
