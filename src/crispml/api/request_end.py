"""What every HTTP request gets around it: an id, and once its answer is sent, its access line and its
latency metric."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crispml.identity import serving_request

RequestObserver = Callable[[Scope, int, float], None]
"""Told of every request that ended: its scope (the route the router matched included), status, seconds."""

MAX_REQUEST_ID = 64
"""Longest `X-Request-ID` taken from a caller (the audit log's column holds 64 characters)."""
_PRINTABLE = re.compile(rb"[\x21-\x7e]+")
"""Visible ASCII: an id that goes into logs and headers as it came, without spaces or controls."""


class RequestId:
    """Pure-ASGI middleware: give every HTTP request an id the audit log records
    (`crispml.identity.request_id`), echoed in the `X-Request-ID` response header: the caller's own if it
    sent a short printable one, else a new one. With `observers`, time the request and, once its answer
    is sent, tell each of them (the access line, `crispml.observability.logs.access`; the latency
    histogram, `crispml.observability.metrics.request_observer`).

    One wrapper of `send` notes the status and adds the header, one clock serves every observer: a few
    microseconds on the one-record scoring path (a second middleware for the observers cost 1.5 us more).
    It runs outside Starlette's error middleware, so an unexpected error is observed with the 500 it was
    answered, and its answer carries the id too.
    """

    def __init__(self, app: ASGIApp, observers: tuple[RequestObserver, ...] = ()) -> None:
        self.app = app
        self.observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request = value
                break
        if request is None or not 0 < len(request) <= MAX_REQUEST_ID or not _PRINTABLE.fullmatch(request):
            request = os.urandom(12).hex().encode()
        header = (b"x-request-id", request)
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before it answers

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        with serving_request(request.decode()):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                if self.observers:
                    seconds = time.perf_counter() - started
                    for observe in self.observers:
                        observe(scope, status, seconds)
