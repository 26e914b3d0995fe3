"""The emulator's routes: ``/v2/{method}.json``, the upload host, and ``/_emulator`` inspection."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from airflow_provider_cincopa.emulator import api, uploads
from airflow_provider_cincopa.emulator.state import EmulatorState

#: Request headers kept in the request log (tests assert on the wire).
LOGGED_HEADERS = (
    "user-agent",
    "content-type",
    "content-length",
    "content-range",
    "x-file-name",
    "unique-id",
    "authorization",
    "api_token",
    "x-api-token",
)


class DropConnection(Exception):
    """Raised to abort the TCP connection without an answer (see ``server.DroppingH11Protocol``)."""


def create_app(state: EmulatorState) -> Any:
    """The ASGI app over ``state``."""

    async def api_call(request: Request) -> Response:
        method = request.path_params.get("method", "upload.iframe")
        params = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            params = {**dict(parse_qsl((await request.body()).decode())), **params}
        token = state.token(params.pop("api_token", None))
        if token is None:
            return _json({"success": False, "message": "invalid or missing api_token"}, 403)
        handler = api.METHODS.get(method)
        if handler is None:
            return _json({"success": False, "message": f"unknown method: {method}"}, 404)
        if not token.allows(method.replace("webhhook", "webhook")):
            return _json(
                {"success": False, "message": f"permission denied: {method} is not allowed for this token"}, 403
            )
        started = time.monotonic()
        try:
            if handler is api.get_upload_url:
                answer = handler(state, params, token, base=str(request.base_url).rstrip("/"))
            else:
                answer = handler(state, params, token)
        except api.Refused as exc:
            return _json({"success": False, "message": str(exc)})
        except ValueError as exc:
            return _json({"success": False, "message": f"bad parameter: {exc}"})
        if isinstance(answer, api.HtmlPage):
            return HTMLResponse(str(answer))
        return _json({"success": True, "runtime": int((time.monotonic() - started) * 1000), **answer})

    async def upload(request: Request) -> Response:
        try:
            text = await uploads.receive(
                state, dict(request.query_params), request.headers, _throttled(state, request.stream())
            )
        except uploads.UploadRefused as exc:
            return PlainTextResponse(f"authentication ok\n{exc}\n" if exc.status == 200 else f"{exc}\n", exc.status)
        return PlainTextResponse(text)

    async def inspect(request: Request) -> Response:
        return _json(state.snapshot())

    async def set_faults(request: Request) -> Response:
        state.faults.configure(await request.json())
        return _json({"success": True, "faults": state.faults.describe()})

    async def clear_faults(request: Request) -> Response:
        state.faults.clear()
        return _json({"success": True})

    async def reset(request: Request) -> Response:
        state.reset()
        return _json({"success": True})

    app = Starlette(
        routes=[
            Route("/v2/{method}.json", api_call, methods=["GET", "POST"]),
            Route("/v2/upload.iframe", api_call, methods=["GET"]),
            Route("/upload/{rest:path}", upload, methods=["POST"]),
            Route("/_emulator/state", inspect, methods=["GET"]),
            Route("/_emulator/faults", set_faults, methods=["POST"]),
            Route("/_emulator/faults", clear_faults, methods=["DELETE"]),
            Route("/_emulator/reset", reset, methods=["POST"]),
        ]
    )
    return _FaultsAndLog(app, state)


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status)


async def _throttled(state: EmulatorState, body: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    started, seen = time.monotonic(), 0
    async for piece in body:
        yield piece
        seen += len(piece)
        if state.faults.bandwidth:
            ahead = seen / state.faults.bandwidth - (time.monotonic() - started)
            if ahead > 0:
                await asyncio.sleep(ahead)


class _FaultsAndLog:
    """ASGI middleware: applies the fault knobs and records every request in the log."""

    def __init__(self, app: Any, state: EmulatorState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope["headers"]}
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": path,
            "query": dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True)),
            "headers": {k: v for k, v in headers.items() if k in LOGGED_HEADERS},
            "body_length": 0,
            "status": None,
        }
        self.state.requests.append(entry)
        faults = self.state.faults

        async def counting_receive() -> Any:
            message = await receive()
            entry["body_length"] += len(message.get("body", b""))
            return message

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry["status"] = message["status"]
            await send(message)

        delay = faults.delay_for(path)
        if delay:
            await asyncio.sleep(delay)
        if (drop := faults.take("drop", path)) is not None:
            after = int(drop.get("after_bytes", 0))
            while entry["body_length"] < after:
                message = await counting_receive()
                if not message.get("more_body"):
                    break
            entry["status"] = "dropped"
            raise DropConnection()
        for kind in ("fail", "malformed"):
            if (rule := faults.take(kind, path)) is not None:
                await _drain(counting_receive)
                status = int(rule.get("status", 500 if kind == "fail" else 200))
                default = "text/html" if kind == "malformed" else "application/json"
                body = rule.get("body", json.dumps({"success": False, "message": f"injected HTTP {status}"}))
                headers_out = {"content-type": rule.get("content_type", default)}
                if rule.get("retry_after") is not None:
                    headers_out["retry-after"] = str(rule["retry_after"])
                await Response(body, status, headers=headers_out)(scope, counting_receive, recording_send)
                return
        await self.app(scope, counting_receive, recording_send)


async def _drain(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return
