"""One access line per HTTP request (`crispml.access`), written by the log's background thread."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crispml.observability.logs import access


class AccessLog:
    """Pure-ASGI middleware: once a request's answer is sent, hand its access line (method, route
    template, path, status, duration, request id, principal, client) to the log writer.

    It must run inside `RequestId` (the line takes its id and principal from the request's context) and
    outside Starlette's error middleware (an unexpected error is logged with the 500 it was answered).
    A few microseconds: a clock read each side and a small dict for the writer thread.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            access(scope, status, time.perf_counter() - started)
