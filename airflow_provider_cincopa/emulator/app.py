"""The emulator's routes: ``/v2/{method}.json``, the upload host, and ``/_emulator`` inspection."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl

import anyio
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from airflow_provider_cincopa.emulator import api, cdn, uploads
from airflow_provider_cincopa.emulator.middleware import DropConnection, FaultsAndLog
from airflow_provider_cincopa.emulator.state import EmulatorState

__all__ = ["DropConnection", "create_app"]

log = logging.getLogger(__name__)


def _json(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status)


def _refuse(message: str, status: int = 200) -> JSONResponse:
    return _json({"success": False, "message": message}, status)


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def create_app(state: EmulatorState) -> Any:
    """The ASGI app over ``state``."""

    async def api_call(request: Request) -> Response:
        method = request.path_params.get("method", "upload.iframe")
        query = dict(request.query_params)
        params = dict(query)
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            # Form fields are parameters too, but the query string wins and the token never comes from here.
            form = dict(parse_qsl((await request.body()).decode(errors="replace"), keep_blank_values=True))
            form.pop("api_token", None)
            params = {**form, **query}
        value = params.pop("api_token", None)
        known = bool(value) and value in state.tokens
        token = state.token(value)
        if token is None:
            why = "missing api_token (it goes in the query string)" if not value else "invalid api_token"
            return _refuse("api_token expired" if known else why, 403)
        if token.sourceip and token.sourceip != _client_ip(request):
            return _refuse(f"api_token is not valid from {_client_ip(request)}", 403)
        handler = api.METHODS.get(method)
        if handler is None:
            return _refuse(f"unknown method: {method}", 404)
        if not token.allows(api.canonical(method)):
            return _refuse(f"permission denied: {method} is not allowed for this token", 403)
        started = time.monotonic()
        call = api.Call(state, params, token, str(request.base_url).rstrip("/"), _client_ip(request))
        try:
            answer = handler(call)
        except api.Refused as exc:
            return _refuse(str(exc))
        except ValueError as exc:
            return _refuse(f"bad parameter: {exc}")
        except Exception as exc:  # an emulator bug: say so in the answer, keep serving
            log.exception("%s failed", method)
            return _refuse(f"emulator error in {method}: {type(exc).__name__}: {exc}", 500)
        if isinstance(answer, api.HtmlPage):
            return HTMLResponse(str(answer))
        return _json({"success": True, "runtime": int((time.monotonic() - started) * 1000), **answer})

    async def unknown_api_path(request: Request) -> Response:
        return _refuse(f"unknown method: {request.url.path} (methods look like /v2/asset.list.json)", 404)

    async def upload(request: Request) -> Response:
        try:
            text = await uploads.receive(
                state, request.query_params, request.headers, request.stream(), _client_ip(request)
            )
        except uploads.UploadRefused as exc:
            await _drain_quietly(request)
            return PlainTextResponse(f"{exc}\n", exc.status)
        except ClientDisconnect:
            return PlainTextResponse("error: client disconnected\n", 400)  # nobody reads it
        return PlainTextResponse(text)

    async def inspect(request: Request) -> Response:
        # In a thread: the snapshot hashes assets not hashed yet, which may be GBs.
        return _json(await anyio.to_thread.run_sync(state.snapshot))

    async def set_faults(request: Request) -> Response:
        try:
            knobs = await request.json()
            if not isinstance(knobs, dict):
                raise ValueError("the body must be a JSON object")
            state.faults.configure(knobs)
        except (ValueError, TypeError) as exc:
            return _refuse(f"bad fault knobs: {exc}", 400)
        return _json({"success": True, "faults": state.faults.describe()})

    async def clear_faults(request: Request) -> Response:
        state.faults.clear()
        return _json({"success": True, "faults": state.faults.describe()})

    async def reset(request: Request) -> Response:
        state.reset()
        return _json({"success": True})

    app = Starlette(
        routes=[
            Route("/v2/{method}.json", api_call, methods=["GET", "POST"]),
            Route("/v2/upload.iframe", api_call, methods=["GET", "POST"]),
            Route("/v2/{rest:path}", unknown_api_path, methods=["GET", "POST"]),
            Route("/upload/{rest:path}", upload, methods=["POST", "PUT"]),
            Route("/_emulator/state", inspect, methods=["GET"]),
            Route("/_emulator/faults", set_faults, methods=["POST"]),
            Route("/_emulator/faults", clear_faults, methods=["DELETE"]),
            Route("/_emulator/reset", reset, methods=["POST"]),
        ]
    )

    async def app_with_cdn(scope: dict[str, Any], receive: Any, send: Any) -> None:
        # The CDN is a raw ASGI handler: it must be able to abort a connection mid-body.
        if scope["type"] == "http" and scope["path"].startswith(cdn.PREFIX):
            await cdn.serve(state, scope, send)
        else:
            await app(scope, receive, send)

    return FaultsAndLog(app_with_cdn, state)


async def _drain_quietly(request: Request) -> None:
    # Read what the client is still sending: answering mid-body makes uvicorn close the socket,
    # and a client still writing would see a reset instead of our error text.
    try:
        async for _ in request.stream():
            pass
    except (ClientDisconnect, RuntimeError):  # RuntimeError: the stream was already consumed
        pass
