"""Metrics over HTTP: `GET /metrics` in Prometheus's text format, and the request timing behind it."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI, Response
from starlette.types import Scope

import crispml
from crispml.api.deps import ServicesDep
from crispml.api.request_end import RequestObserver
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
        return Response(
            await services.blocking(partial(operations.prometheus_text, crispml.__version__)), media_type=CONTENT_TYPE
        )


def request_timer() -> RequestObserver:
    """Time every HTTP request into `crispml_http_request_duration_seconds` by the template of the route
    that served it (`/api/v1/models/{name}/score`, never the raw path), its method and status; a request no
    route matched is `unmatched`. Told by `crispml.api.request_end.RequestId` once the app ran (the router
    wrote the route into the scope)."""
    observe = request_observer()

    def timed(scope: Scope, status: int, seconds: float) -> None:
        observe(getattr(scope.get("route"), "path_format", None) or UNMATCHED, scope["method"], status, seconds)

    return timed
