"""The FastAPI application factory. Process-wide effects (gc.freeze) belong to the entry point,
`crispml.api.server`, not here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import crispml
from crispml.api import docs, problems
from crispml.api.deps import Services
from crispml.api.origin import HostOriginCheck
from crispml.api.routes import compat, datasets, health, inference, jobs, models, operations, scoring
from crispml.container import Container
from crispml.settings import Settings


def operation_id(route: APIRoute) -> str:
    """A route's operationId is its function's name: the method's name (`score`, `train`, ...)."""
    return route.name


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build an app over its own container; nothing connects until the app starts."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        container = Container(settings)
        container.jobs.recover()
        # Before the server listens: no request waits for a model to be read (most of a second each),
        # and with several workers, one still reading takes no connections.
        container.operations.warm_up(settings.warm_up_models)
        services = Services.of(container)
        app.state.services = services
        try:
            yield
        finally:
            services.close()
            container.close()

    app = FastAPI(
        title="crispml",
        version=crispml.__version__,
        description="CRISP-DM as a governed ML service: the nine methods over REST, every score persisted.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
    )
    problems.install(app)
    # Routes are matched in order: scoring, the hot path, is tried first.
    for module in (scoring, health, datasets, models, jobs, operations, compat, inference):
        app.include_router(module.router)
    docs.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    # Outermost: a request another web page made is refused before anything reads it.
    app.add_middleware(HostOriginCheck, allowed_hosts=settings.allowed_hosts, allowed_origins=settings.allowed_origins)
    return app


class BodySizeLimit:
    """Refuse request bodies over `max_bytes` with 413, by Content-Length or while they stream in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen = 0

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        body = problems.problem(413, "too-large", "TooLarge", f"the request body exceeds {self.max_bytes} bytes")
        await body({"type": "http"}, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
