"""What happens once an HTTP request's answer is sent: its access line and its latency metric."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

RequestObserver = Callable[[Scope, int, float], None]
"""Told of every request that ended: its scope (the route the router matched included), status, seconds."""


class RequestEnd:
    """Pure-ASGI middleware: time each request and, once its answer is sent, tell every observer (the
    access line, `crispml.observability.logs.access`; the latency histogram, `crispml.api.metrics`).

    One clock and one status for all of them: a few microseconds on the one-record scoring path. It runs
    inside `RequestId` (an observer reads the request's id and principal from the context) and outside
    Starlette's error middleware (an unexpected error is observed with the 500 it was answered).
    """

    def __init__(self, app: ASGIApp, observers: tuple[RequestObserver, ...]) -> None:
        self.app = app
        self.observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            seconds = time.perf_counter() - started
            for observe in self.observers:
                observe(scope, status, seconds)
