"""Python client of the crispml REST API (httpx), synchronous and asynchronous.

Both clients share one set of method definitions: each method describes its request and hands it to
`_call`, which the sync client runs at once and the async client returns as an awaitable. Errors come
back as the same `crispml.errors` classes the service raises; a server that cannot be reached (refused
connection, unknown host, timeout) raises `Unavailable` naming the URL.

A server that requires keys gets the `api_key` given, else the environment's `CRISPML_API_KEY`, as
`Authorization: Bearer <key>` on every request.

Long calls (ingest, upload, train, dataset scoring) run as jobs. By default the client blocks until
the job ends and hands back its result; `Client(url, wait_for_jobs=False)` hands back the queued job
instead, to follow with `job(id, wait=True, timeout=...)` and stop with `cancel_job(id)`.

An https URL is verified against the system's certificate authorities, or against the CA file named
by `verify=` or by `CRISPML_CA_FILE` (a server with a certificate of its own making).
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

import httpx

from crispml.client.calls import Calls
from crispml.client.wire import (
    JOB_TIMEOUT_S,
    LONG_POLL,
    Answer,
    auth_headers,
    close_files,
    decoded,
    prepared,
    tls_verify,
    unreachable,
)


class Client(Calls):
    """Synchronous client: `Client("http://127.0.0.1:8000").train("ccf-cur", name="fraud", weight=10)`."""

    def __init__(
        self, base_url: str, *, timeout: float = JOB_TIMEOUT_S + 60, wait_for_jobs: bool = True,
        api_key: str | None = None, verify: bool | str | Path | ssl.SSLContext | None = None,
        **httpx_options: Any,
    ) -> None:  # fmt: skip
        self.http = httpx.Client(
            base_url=base_url, timeout=timeout, verify=tls_verify(verify), **auth_headers(api_key, httpx_options)
        )
        self.wait_for_jobs = wait_for_jobs

    def _call(self, method: str, path: str, *, job: bool = False, answer: Answer = "json", **kwargs: Any) -> Any:
        job = job and self.wait_for_jobs
        try:
            response = self.http.request(method, path, **prepared(job, kwargs))
            while job and response.status_code == 202:  # the server holds a wait for a while only
                response = self.http.get(response.headers["Location"], params=LONG_POLL)
        except httpx.TransportError as exc:
            raise unreachable(self.http.base_url, exc) from None
        finally:
            close_files(kwargs)
        return decoded(response, job, answer)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class AsyncClient(Calls):
    """Asynchronous client: the same methods, each returning an awaitable."""

    def __init__(
        self, base_url: str, *, timeout: float = JOB_TIMEOUT_S + 60, wait_for_jobs: bool = True,
        api_key: str | None = None, verify: bool | str | Path | ssl.SSLContext | None = None,
        **httpx_options: Any,
    ) -> None:  # fmt: skip
        self.http = httpx.AsyncClient(
            base_url=base_url, timeout=timeout, verify=tls_verify(verify), **auth_headers(api_key, httpx_options)
        )
        self.wait_for_jobs = wait_for_jobs

    def _call(
        self, method: str, path: str, *, job: bool = False, answer: Answer = "json", **kwargs: Any
    ) -> Awaitable[Any]:
        job = job and self.wait_for_jobs

        async def run() -> Any:
            try:
                response = await self.http.request(method, path, **prepared(job, kwargs))
                while job and response.status_code == 202:  # the server holds a wait for a while only
                    response = await self.http.get(response.headers["Location"], params=LONG_POLL)
            except httpx.TransportError as exc:
                raise unreachable(self.http.base_url, exc) from None
            finally:
                close_files(kwargs)
            return decoded(response, job, answer)

        return run()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.aclose()
