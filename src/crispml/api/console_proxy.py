"""`crispml console --remote URL`: the console served from this machine, with /api/* forwarded to another
crispml server, so the browser talks to one origin (no CORS) and the remote server sees a plain client.

The proxy adds nothing of its own: the user's key goes through as the browser sent it, and the remote
server decides. It forwards no cookies and none of the headers that tell where a browser request came
from: the same Host/Origin check as the API's (`crispml.api.origin`) runs here first, so another web
page cannot use the proxy to reach the remote server.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.types import ASGIApp

from crispml.api import problems
from crispml.api.origin import HostOriginCheck
from crispml.api.routes import console
from crispml.client.wire import tls_verify

SERVER_HEADER = "x-crispml-server"
"""Tells the console which server its answers come from (it shows it in its header)."""
_NOT_FORWARDED = frozenset(
    {"host", "origin", "referer", "cookie", "connection", "keep-alive", "proxy-authorization", "te", "trailer",
     "transfer-encoding", "upgrade", "content-length", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-dest",
     "sec-fetch-user"}
)  # fmt: skip
_NOT_ANSWERED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "set-cookie", "date", "server"}
)
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
TIMEOUT_S = 330.0
"""Longer than the API's longest wait (`?wait=true&timeout=300`)."""


def create_console_proxy(remote: str, verify: bool | str | Path | ssl.SSLContext | None = None) -> ASGIApp:
    """The console at /console, /api/* and /readyz forwarded to `remote` (https verified as the client does)."""
    base = remote.rstrip("/")
    http = httpx.AsyncClient(base_url=base, verify=tls_verify(verify), timeout=httpx.Timeout(TIMEOUT_S, connect=10))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    problems.install(app)
    app.include_router(console.router)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("console/")

    @app.api_route("/api/{path:path}", methods=METHODS, include_in_schema=False)
    async def forward(request: Request, path: str) -> Response:
        return await _forward(request, f"/api/{path}")

    @app.get("/readyz", include_in_schema=False)  # the header's readiness (degraded references) of the remote
    async def readyz(request: Request) -> Response:
        return await _forward(request, "/readyz")

    async def _forward(request: Request, path: str) -> Response:
        headers = [(k, v) for k, v in request.headers.raw if k.decode("latin-1").lower() not in _NOT_FORWARDED]
        url = httpx.URL(path, query=request.url.query.encode("latin-1"))
        body = request.stream() if request.method in ("POST", "PUT", "PATCH") else None
        outgoing = http.build_request(request.method, url, headers=headers, content=body)
        try:
            answer = await http.send(outgoing, stream=True)
        except httpx.TransportError as exc:
            detail = f"cannot reach the crispml server at {base}: {exc or type(exc).__name__}"
            return problems.problem(502, "unavailable", "Unavailable", detail)
        kept = {k: v for k, v in answer.headers.multi_items() if k.lower() not in _NOT_ANSWERED}
        kept[SERVER_HEADER] = base
        done = BackgroundTask(answer.aclose)
        return StreamingResponse(answer.aiter_raw(), status_code=answer.status_code, headers=kept, background=done)

    return HostOriginCheck(app)
