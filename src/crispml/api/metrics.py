"""Metrics over HTTP: `GET /metrics` in Prometheus's text format."""

from __future__ import annotations

from functools import partial

from fastapi import FastAPI, Response

import crispml
from crispml.api.deps import ServicesDep
from crispml.errors import NotFound
from crispml.observability.metrics import CONTENT_TYPE


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
