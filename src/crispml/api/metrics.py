"""Metrics over HTTP: `GET /metrics` in Prometheus's text format, and the request timing behind it."""

from __future__ import annotations

import time

from fastapi import FastAPI, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crispml.api.deps import ServicesDep
from crispml.errors import NotFound
from crispml.observability.metrics import CONTENT_TYPE, UNMATCHED, request_observer


def install(app: FastAPI) -> None:
    """Serve `GET /metrics` (action `metrics` in the permission table: a scraper uses a viewer's key).

    On the app itself, like the API's documents, and out of the OpenAPI document: it serves scrapers.
    """

    @app.get("/metrics", include_in_schema=False)
    async def metrics(services: ServicesDep) -> Response:
        if not services.settings.metrics_enabled:
            raise NotFound("metrics are off on this server (CRISPML_METRICS_ENABLED=false)")
        # The alias and job series are read from the database: off the event loop.
        operations = services.operations
        return Response(await services.blocking(operations.prometheus_text), media_type=CONTENT_TYPE)


class RequestMetrics:
    """Time every HTTP request into `crispml_http_request_duration_seconds` by the template of the route
    that served it (`/api/v1/models/{name}/score`, never the raw path), its method and status.

    Pure ASGI and a few microseconds: it runs on the one-record scoring path too. The route is read from
    the scope once the app ran (the router writes it there); a request no route matched is `unmatched`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._observe = request_observer()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the server answers when the app raised before it started an answer

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path_format", None) or UNMATCHED
            self._observe(route, scope["method"], status, time.perf_counter() - started)
