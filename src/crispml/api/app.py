"""The FastAPI application factory. Process-wide effects (gc.freeze) belong to the entry point,
`crispml.api.server`, not here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import crispml
from crispml.api import docs, metrics, problems
from crispml.api.auth import authorize
from crispml.api.deps import Services
from crispml.api.hot_lane import HotLane
from crispml.api.origin import HostOriginCheck
from crispml.api.request_end import RequestId, RequestObserver
from crispml.api.routes import (
    audit,
    challengers,
    compat,
    console,
    datasets,
    health,
    inference,
    jobs,
    models,
    operations,
    pipelines,
    privacy,
    promotion,
    retraining,
    scoring,
    sources,
    users,
)  # fmt: skip
from crispml.container import Container
from crispml.observability.logs import access
from crispml.observability.metrics import process_ended, request_observer
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
        if settings.metrics_enabled:
            container.observe_metrics()
        container.jobs.recover()
        # Before the server listens: no request waits for a model to be read (most of a second each),
        # and with several workers, one still reading takes no connections.
        container.operations.warm_up(settings.warm_up_models)
        container.watch_kpi_floor()
        container.start_background()  # the retraining evaluator and the webhook dispatcher
        services = Services.of(container)
        app.state.services = services
        try:
            yield
        finally:
            services.close()
            container.close()
            process_ended()

    app = CrispmlApp(
        title="crispml",
        version=crispml.__version__,
        description="CRISP-DM as a governed ML service: the nine methods over REST, every score persisted.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=operation_id,
        # crispml measures itself (Prometheus, InfluxDB, its perf log); FastAPI's OpenTelemetry bridge
        # would otherwise look up the global providers on every request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        dependencies=[Depends(authorize)],  # every route: see crispml.api.auth
    )
    problems.install(app)
    # Routes are matched in order: scoring, the hot path, is tried first.
    for module in (scoring, health, datasets, models, jobs, pipelines, operations, compat, inference, audit, sources,
                   privacy, users, retraining, challengers, promotion, console):  # fmt: skip
        app.include_router(module.router)
    docs.install(app)
    metrics.install(app)
    app.add_middleware(HotLane)  # innermost of the app's own: the body limit and origin checks run first
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    # A request another web page made is refused before anything reads it (RequestId reads no body).
    app.add_middleware(HostOriginCheck, allowed_hosts=settings.allowed_hosts, allowed_origins=settings.allowed_origins)
    # Refused requests are logged and timed too, and unexpected errors (see CrispmlApp).
    app.request_observers = (*((access,) if settings.access_log else ()),
                             *((request_observer(),) if settings.metrics_enabled else ()))  # fmt: skip
    return app


class CrispmlApp(FastAPI):
    """FastAPI with `RequestId` (and its observers) outside Starlette's error middleware: the answer to an
    unexpected error carries its request id too, its log line names the request, and its access line and
    latency say 500."""

    request_observers: tuple[RequestObserver, ...] = ()
    """Told of every request once it ended: the access line (CRISPML_ACCESS_LOG), the latency metric
    (CRISPML_METRICS_ENABLED)."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return RequestId(stack, self.request_observers)


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
        seen, exceeded, started = 0, False, False

        async def counting_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    exceeded = True
                    raise _TooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # A parser that caught the cut (multipart's answers 400) has its answer replaced by the 413.
            if exceeded and not started:
                return
            started = True
            await send(message)

        with suppress(_TooLarge):
            await self.app(scope, counting_receive, guarded_send)
        if exceeded and not started:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        body = problems.problem(413, "too-large", "TooLarge", f"the request body exceeds {self.max_bytes} bytes")
        await body({"type": "http"}, _empty_receive, send)


class _TooLarge(Exception):
    pass


async def _empty_receive() -> Message:
    return {"type": "http.disconnect"}
