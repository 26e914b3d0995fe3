"""Run the emulator with uvicorn, in a thread (tests, benchmarks) or as the CLI's main loop."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from airflow_provider_cincopa.emulator.app import DropConnection, create_app
from airflow_provider_cincopa.emulator.state import EmulatorState


class DroppingH11Protocol(H11Protocol):
    """
    uvicorn's h11 protocol, able to drop a connection on purpose.

    ASGI gives an app no way to abort its TCP connection (an exception becomes a 500 answer), so
    the app raises :class:`DropConnection` and this protocol aborts the transport instead.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner = self.app

        async def app(scope: Any, receive: Any, send: Any) -> None:
            try:
                await inner(scope, receive, send)
            except DropConnection:
                if self.transport is not None:
                    self.transport.abort()

        self.app = app


class EmulatorServer:
    """
    The emulator on ``host:port`` (port 0 picks a free one), in a background thread.

    :param token: the account's api_token.
    :param host: address to bind; loopback unless told otherwise.
    :param port: TCP port, 0 for any free one.
    :param data_dir: persist assets and metadata there.
    :param galleries: gallery fids that exist.
    :param extra_tokens: more tokens with limited permissions.
    """

    def __init__(
        self,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | None = None,
        galleries: tuple[str, ...] = (),
        extra_tokens: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.state = EmulatorState(token, data_dir=data_dir, galleries=galleries, extra_tokens=extra_tokens)
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(2048)  # listening before the address is printed: no refused first connection
        self.host, self.port = host, self.sock.getsockname()[1]
        config = uvicorn.Config(
            create_app(self.state),
            http=DroppingH11Protocol,
            access_log=False,
            log_level="warning",
            lifespan="off",
            timeout_keep_alive=30,
        )
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v2/"

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` or a signal."""
        try:
            asyncio.run(self.server.serve(sockets=[self.sock]))
        finally:
            self.state.close()

    def start(self) -> EmulatorServer:
        """Serve in a background thread; return once it accepts connections."""
        self.server.config.install_signal_handlers = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self.serve_forever, daemon=True, name="cincopa-emulator")
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the emulator failed to start")
            threading.Event().wait(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
