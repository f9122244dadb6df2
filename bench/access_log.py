"""Microbenchmark: what an access line costs a request, and what writing it costs the writer thread.

Per-request microseconds (best of many paced batches) of `RequestId` around a trivial app, with and
without the access line as its observer, the log configured as `crispml serve` configures it (JSON to
stdout, here /dev/null); and per-line microseconds of the writer thread formatting and writing it.
Not part of `bench.run`: it explains a figure, it does not measure the product.

python -m bench.access_log
"""

from __future__ import annotations

import asyncio
import json
import logging.config
import os
import sys
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crispml.api.request_end import RequestId
from crispml.observability import logs

BATCHES, BATCH = 200, 100


class _Route:
    path = "/api/v1/models/{name}/score"


async def _app(scope: Scope, _receive: Receive, send: Send) -> None:
    scope["route"] = _Route  # as FastAPI's router leaves it
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _send(_message: Message) -> None:
    return None


async def _receive() -> Message:
    return {"type": "http.request", "body": b""}


def _scope() -> Scope:
    return {"type": "http", "method": "POST", "path": "/api/v1/models/fraud/score", "client": ("127.0.0.1", 5000),
            "headers": [(b"host", b"127.0.0.1"), (b"x-request-id", b"bench-1")]}  # fmt: skip


async def per_request_us(app: ASGIApp) -> float:
    """Best batch's microseconds per request; the writer thread catches up between batches."""
    best = float("inf")
    for _ in range(BATCHES):
        started = time.perf_counter()
        for _ in range(BATCH):
            await app(_scope(), _receive, _send)
        best = min(best, time.perf_counter() - started)
        time.sleep(0.005)
    return best / BATCH * 1e6


def writer_us(handler: logs.BackgroundHandler) -> float:
    """Microseconds the writer thread spends on one access line (formatting, writing, flushing)."""
    best = float("inf")
    for _ in range(BATCHES // 4):
        entries = [{"method": "POST", "route": _Route.path, "path": "/api/v1/models/fraud/score", "status": 200,
                    "duration_ms": 1.234, "request_id": "a140158e3b2c7d9bfaa40a61", "principal": "scorer",
                    "client": "127.0.0.1", "at": time.time()} for _ in range(BATCH)]  # fmt: skip
        started = time.perf_counter()
        handler.listener.write(entries)  # what the thread does with a turn of lines
        for line_handler in handler.listener.handlers:
            line_handler.flush()
        best = min(best, time.perf_counter() - started)
    return best / BATCH * 1e6


def run() -> dict[str, Any]:
    stdout, sys.stdout = sys.stdout, open(os.devnull, "w")  # noqa: SIM115 (closed by the log's shut-down)
    try:
        logging.config.dictConfig(logs.log_config("json", "INFO"))
        plain = asyncio.run(per_request_us(RequestId(_app)))
        logged = asyncio.run(per_request_us(RequestId(_app, (logs.access,))))
        background = logging.getLogger().handlers[0]
        assert isinstance(background, logs.BackgroundHandler)
        written = writer_us(background)
    finally:
        sys.stdout = stdout
    return {
        "request_id_only_us": round(plain, 2),
        "with_access_line_us": round(logged, 2),
        "access_line_cost_us": round(logged - plain, 2),
        "writer_thread_per_line_us": round(written, 2),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
