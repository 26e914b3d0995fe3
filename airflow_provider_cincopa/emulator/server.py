"""Run the emulator with uvicorn in a background thread (tests, benchmarks and the CLI alike)."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT as _HIGH_WATER_LIMIT
from uvicorn.protocols.http.h11_impl import H11Protocol

from airflow_provider_cincopa.emulator.app import DropConnection, create_app
from airflow_provider_cincopa.emulator.state import EmulatorState


def dropping(protocol: type[Any]) -> type[Any]:
    """
    ``protocol`` (one of uvicorn's HTTP protocols), able to drop a connection on purpose.

    ASGI gives an app no way to abort its TCP connection (an exception becomes a 500 answer), so
    the app raises :class:`DropConnection` and this protocol aborts the transport instead: the
    client sees a reset, exactly as when a proxy or the network fails mid-request.
    """

    class Dropping(protocol):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            inner: Any = self.__dict__["app"]  # uvicorn's protocols set it in __init__

            async def app(scope: Any, receive: Any, send: Any) -> None:
                try:
                    await inner(scope, receive, send)
                except DropConnection:
                    if self.transport is not None:
                        self.transport.abort()

            self.app = app

    Dropping.__name__ = Dropping.__qualname__ = f"Dropping{protocol.__name__}"
    return Dropping


DroppingH11Protocol = dropping(H11Protocol)


def http_protocol(name: str = "auto") -> type[Any]:
    """
    The HTTP protocol class: ``httptools`` (C parser), ``h11`` (pure Python), or ``auto``: httptools
    when installed (``uvicorn[standard]`` brings it), as uvicorn itself chooses. Receiving upload
    bodies through h11 costs the emulator several times the CPU of the client sending them, which
    made the emulator, not the uploader, what the upload benchmark measured.
    """
    if name not in ("auto", "httptools", "h11"):
        raise ValueError(f"http must be auto, httptools or h11, got {name!r}")
    if name != "h11":
        try:
            from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
        except ImportError:
            if name == "httptools":
                raise
        else:
            return dropping(_lean_body(HttpToolsProtocol))
    return DroppingH11Protocol


def _lean_body(protocol: type[Any]) -> type[Any]:
    """
    uvicorn's httptools protocol, handing each body piece to the app without copying it.

    Since uvicorn 0.36 the request cycle gathers body pieces in a fresh ``bytearray`` and hands
    the app ``bytes(...)`` of it: two copies of every uploaded byte, and a ``bytearray`` grown anew
    for each piece, which costs page faults: the largest part of the emulator's CPU per uploaded
    GiB, more than the raw socket reads (docs/performance.md has the profile). A piece that
    arrives while nothing is waiting is kept as the ``bytes`` httptools made (``bytes(b)`` of a
    ``bytes`` is the same object); a piece arriving before the app took the previous one goes
    through uvicorn's own path. Only the emulator does this: Cincopa's front end is not uvicorn,
    and the emulator must not be what an upload benchmark measures.
    """

    class LeanBody(protocol):  # type: ignore[misc]
        def on_body(self, body: bytes) -> None:
            cycle = getattr(self, "cycle", None)
            if cycle is None or cycle.body or cycle.response_complete or self.parser.should_upgrade():
                super().on_body(body)
                return
            cycle.body = body
            if len(body) > _HIGH_WATER_LIMIT:
                self.flow.pause_reading()
            cycle.message_event.set()

    LeanBody.__name__ = LeanBody.__qualname__ = f"LeanBody{protocol.__name__}"
    return LeanBody


def loop_factory(name: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop for ``auto`` when installed (and Python has ``asyncio.Runner``), else asyncio's."""
    if name not in ("auto", "uvloop", "asyncio"):
        raise ValueError(f"loop must be auto, uvloop or asyncio, got {name!r}")
    if name == "asyncio" or sys.version_info < (3, 11):
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def _knobs(knobs: dict[str, Any]) -> dict[str, Any]:
    """Start-up knobs as ``/_emulator/faults`` takes them; a bare ``latency`` number means all of ``/v2/``."""
    latency = knobs.get("latency")
    if isinstance(latency, (int, float)):
        knobs = {**knobs, "latency": {"path_prefix": "/v2/", "seconds": float(latency)} if latency else None}
    return {k: v for k, v in knobs.items() if v is not None}


class EmulatorServer:
    """
    The emulator on ``host:port`` (port 0 picks a free one), in a background thread.

    :param token: the account's api_token.
    :param host: address to bind; loopback unless told otherwise.
    :param port: TCP port, 0 for any free one.
    :param data_dir: persist assets and metadata there; else a temp dir removed at stop.
    :param galleries: gallery fids that exist.
    :param extra_tokens: more tokens with limited permissions, ``{token: (permission, ...)}``.
    :param http: the HTTP protocol, ``auto`` (httptools when installed), ``httptools`` or ``h11``.
    :param loop: the event loop, ``auto`` (uvloop when installed), ``uvloop`` or ``asyncio``.
    :param discard_uploads: count uploaded bytes but write none (benchmarks): the asset has its
        size, its content reads as zeros. Upload benchmarks use it so that they measure the two
        uploaders, not the disk or this VM's first touch of fresh memory pages.
    :param knobs: start-up fault knobs, as ``POST /_emulator/faults`` takes them (``latency``
        may be a number of seconds, ``bandwidth``, ``max_assets``, ``import_rate``, ...). They
        are the baseline that clearing the faults or a reset returns to.
    """

    def __init__(
        self,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | None = None,
        galleries: tuple[str, ...] = (),
        extra_tokens: dict[str, tuple[str, ...]] | None = None,
        http: str = "auto",
        loop: str = "auto",
        discard_uploads: bool = False,
        **knobs: Any,
    ) -> None:
        protocol, self._loop_factory = http_protocol(http), loop_factory(loop)  # bad names fail before binding
        baseline = _knobs(knobs)
        self.state = EmulatorState(token, data_dir, tuple(galleries), extra_tokens, baseline)
        self.state.discard_uploads = discard_uploads
        # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets whose proto says TCP,
        # and accepted sockets inherit proto 0 from a plain socket(). Without it, every answer on
        # a kept-alive connection after the first stalled (Nagle against the client's delayed
        # ACK: uvicorn writes the headers and the body separately). Cincopa's own front end
        # answers without that stall, so the emulator must too.
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(2048)  # listening before the address is announced: no refused first connection
        self.host, self.port = host, self.sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.state),
            http=protocol,
            access_log=False,
            log_config=None,  # leave logging to the embedding program (the CLI sends it to stderr)
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=30,
            timeout_graceful_shutdown=3,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def root_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v2/"

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _serve(self) -> None:
        try:
            if self._loop_factory is None:
                asyncio.run(self.server.serve(sockets=[self.sock]))
            else:
                with asyncio.Runner(loop_factory=self._loop_factory) as runner:  # type: ignore[attr-defined]
                    runner.run(self.server.serve(sockets=[self.sock]))
        finally:
            self.sock.close()

    def start(self) -> EmulatorServer:
        """Serve in a background thread; return once it accepts connections."""
        self._thread = threading.Thread(target=self._serve, daemon=True, name="cincopa-emulator")
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the emulator failed to start")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        """Stop serving, end URL imports, and remove the temp data dir (a ``data_dir`` is kept)."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self.state.close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
