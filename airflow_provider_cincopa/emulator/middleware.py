"""ASGI middleware around every API and upload request: the request log and the fault knobs."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import Response

from airflow_provider_cincopa.emulator.state import EmulatorState


class DropConnection(Exception):
    """Raised to abort the TCP connection without an answer (see ``server.dropping``)."""


class FaultsAndLog:
    """Records every request (bar ``/_emulator``) in the log, then applies the fault knobs."""

    def __init__(self, app: Any, state: EmulatorState) -> None:
        self.app, self.state = app, state
        self._open = 0  # logged requests not answered yet (this middleware runs on one event loop)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        entry: dict[str, Any] = {
            "time": time.time(),
            "method": scope["method"],
            "path": path,
            "query": dict(parse_qsl(scope["query_string"].decode(errors="replace"), keep_blank_values=True)),
            "headers": {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
            "body_length": 0,
            # Body bytes of the answer that were handed to the server (a CDN download's cost).
            "response_length": 0,
            "status": None,
            # host:port of the client's socket: distinct values count the TCP connections opened.
            "client": ":".join(map(str, scope.get("client") or ())),
            # Other requests still open when this one came: what overlapped, read without timing.
            "alongside": self._open,
        }
        with self.state.lock:
            self.state.requests.append(entry)
        self._open += 1
        try:
            await self._handle(scope, receive, send, path, entry)
        finally:
            self._open -= 1

    async def _handle(self, scope: dict[str, Any], receive: Any, send: Any, path: str, entry: dict[str, Any]) -> None:
        faults = self.state.faults
        started = time.monotonic()

        async def counting_receive() -> Any:
            message = await receive()
            entry["body_length"] += len(message.get("body", b""))
            rate = faults.bandwidth
            if rate:  # pace the reading: uvicorn stops reading the socket while we sleep
                ahead = entry["body_length"] / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            return message

        delay, after_body = faults.delay_for(path)

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                if delay and after_body:
                    await asyncio.sleep(delay)
                entry["status"] = message["status"]
            elif message["type"] == "http.response.body":
                entry["response_length"] += len(message.get("body", b""))
            await send(message)

        if delay:
            entry["delayed"] = delay  # what the latency knob did, for tests that must not time it
            if not after_body:
                await asyncio.sleep(delay)
        if (drop := faults.take("drop", path)) is not None and drop.get("after_handling"):
            # Handle the request for real (a chunk is stored, an asset made), then lose the answer.
            async def discard(message: Any) -> None:
                if message["type"] == "http.response.start":
                    entry["status"] = message["status"]

            await self.app(scope, counting_receive, discard)
            entry["dropped_answer"] = True
            raise DropConnection()
        if drop is not None:
            after = int(drop.get("after_bytes", 0))
            while entry["body_length"] < after:
                message = await counting_receive()
                if message["type"] != "http.request" or not message.get("more_body"):
                    break
            entry["status"] = "dropped"
            raise DropConnection()
        for kind in ("fail", "malformed"):
            if (rule := faults.take(kind, path)) is not None:
                await drain(counting_receive)
                await _injected(kind, rule)(scope, counting_receive, recording_send)
                entry["fault"] = kind
                return
        await self.app(scope, counting_receive, recording_send)


def _injected(kind: str, rule: dict[str, Any]) -> Response:
    status = int(rule.get("status", 500 if kind == "fail" else 200))
    default_type = "text/html" if kind == "malformed" else "application/json"
    body = rule.get("body")
    content_type = rule.get("content_type")
    if body is None and kind == "fail":
        # What production sends: a proxy's HTML page or a bare "internal error", both with the word
        # "error" in them, which a client must not mistake for Cincopa refusing the file.
        body, default_type = realistic_error_body(status)
    elif body is None:
        body = json.dumps({"success": False, "message": f"injected HTTP {status}"})
    headers = {"content-type": content_type or default_type}
    if rule.get("retry_after") is not None:
        headers["retry-after"] = str(rule["retry_after"])
    return Response(body if isinstance(body, str) else json.dumps(body), status, headers=headers)


def realistic_error_body(status: int) -> tuple[str, str]:
    """The body and content type a failing Cincopa or its gateway sends with ``status``."""
    if status in (502, 503, 504):
        reason = {502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}[status]
        page = (
            f"<html><head><title>{status} {reason}</title></head><body>"
            f"<h1>Error {status}: {reason}</h1><p>The proxy server received an invalid response from an "
            "upstream server.</p><hr><address>nginx</address></body></html>"
        )
        return page, "text/html"
    if status == 429:
        return json.dumps({"success": False, "message": "rate limit exceeded, slow down"}), "application/json"
    if status >= 500:
        return "internal error\n", "text/plain"
    return json.dumps({"success": False, "message": f"injected HTTP {status} error"}), "application/json"


async def drain(receive: Any) -> None:
    """Read (and forget) the rest of a request body, so the answer is not lost to a reset socket."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return
