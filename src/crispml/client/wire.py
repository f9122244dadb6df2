"""The client's wire: errors from answers, TLS and key options, query parameters, request and answer
bodies (JSON, text, bytes, Arrow), shared by the sync and async clients."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import httpx
import orjson

from crispml.errors import (
    Conflict,
    CrispmlError,
    Erased,
    Forbidden,
    IntegrityFailure,
    InvalidInput,
    NotFound,
    TooLarge,
    TooManyAttempts,
    Unauthorized,
    Unavailable,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa


_ERRORS: dict[int, type[CrispmlError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Erased,
    413: TooLarge,
    415: InvalidInput,
    422: InvalidInput,
    500: IntegrityFailure,
    503: Unavailable,
}
JOB_TIMEOUT_S = 3600.0
LONG_POLL: dict[str, str | float] = {"wait": "true", "timeout": JOB_TIMEOUT_S}
ARROW_STREAM = "application/vnd.apache.arrow.stream"
"""`crispml.score_stream.ARROW_STREAM`, spelled again so that the client starts without pyarrow."""


def arrow_stream(table: pd.DataFrame | pa.Table) -> bytes:
    """A table as the bytes of an Arrow IPC stream (a DataFrame's index is left out)."""
    import pyarrow as pa  # here, not at import: the client (and the CLI's help) starts without it

    if not isinstance(table, pa.Table):
        table = pa.Table.from_pandas(table, preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text}
    if response.status_code == 429:
        retry_after = response.headers.get("retry-after", "60")
        raise TooManyAttempts(str(body.get("detail", response.reason_phrase)),
                              retry_after=int(retry_after) if retry_after.isdigit() else 60)  # fmt: skip
    kind = _ERRORS.get(response.status_code, CrispmlError)
    kind = _error_kinds(kind).get(str(body.get("title", "")), kind)  # a refused gate is a Conflict titled GateFailed
    raise kind(str(body.get("detail", response.reason_phrase)), field=body.get("field"))


def job_result(job: dict[str, Any]) -> Any:
    """A finished job's result, or its error raised as the service would have raised it."""
    if job["status"] == "succeeded":
        return job["result"]
    error = job.get("error") or {}
    kinds = _error_kinds(CrispmlError)  # a problem's title is its class
    detail = error.get("detail") or f"job {job['id']} ended {job['status']}"
    raise kinds.get(error.get("title", ""), CrispmlError)(detail, field=error.get("field"))


def _error_kinds(kind: type[CrispmlError]) -> dict[str, type[CrispmlError]]:
    """Every crispml error class by name (subclasses of subclasses too, such as GateFailed)."""
    found = {kind.__name__: kind}
    for sub in kind.__subclasses__():
        found.update(_error_kinds(sub))
    return found


CA_FILE_ENV = "CRISPML_CA_FILE"


def tls_verify(verify: bool | str | Path | ssl.SSLContext | None) -> bool | ssl.SSLContext:
    """What httpx verifies an https server with: `verify` as given, a CA file's context, or by default
    `CRISPML_CA_FILE`'s, else the system's authorities (True). False turns verification off."""
    if verify is None:
        verify = os.environ.get(CA_FILE_ENV) or True
    if isinstance(verify, (str, Path)):
        try:
            return ssl.create_default_context(cafile=str(verify))
        except (OSError, ssl.SSLError) as exc:
            raise InvalidInput(f"cannot read the CA file {verify}: {getattr(exc, 'strerror', None) or exc}",
                               field="verify") from None  # fmt: skip
    return verify


def unreachable(base_url: object, exc: httpx.TransportError) -> Unavailable:
    reason = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        reason = f"timed out ({type(exc).__name__})"
    if "CERTIFICATE_VERIFY_FAILED" in reason:
        reason += f"; if the server's certificate is your own, name its CA with {CA_FILE_ENV} or verify="
    return Unavailable(f"cannot reach the crispml server at {base_url}: {reason}", field="url")


API_KEY_ENV = "CRISPML_API_KEY"


def auth_headers(api_key: str | None, httpx_options: dict[str, Any]) -> dict[str, Any]:
    """httpx options with `Authorization: Bearer` from `api_key`, else from CRISPML_API_KEY, if either is set."""
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key:
        return httpx_options
    return {**httpx_options, "headers": {**(httpx_options.get("headers") or {}), "Authorization": f"Bearer {key}"}}


def close_files(kwargs: dict[str, Any]) -> None:
    for _name, handle, *_rest in (kwargs.get("files") or {}).values():
        if hasattr(handle, "close"):
            handle.close()


def given(**params: Any) -> dict[str, Any]:
    """Query parameters, those not given (None or empty) left out."""
    return {k: v for k, v in params.items() if v is not None and v != ""}


def prepared(job: bool, kwargs: dict[str, Any]) -> dict[str, Any]:
    if job:  # long calls block on the server until their job ends, then hand back its result
        kwargs["params"] = {**kwargs.get("params", {}), **LONG_POLL}
    return kwargs


def decoded(response: httpx.Response, job: bool, answer: Answer = "json") -> Any:
    _raise_for(response)
    if response.status_code == 204:
        return None
    if answer == "bytes":
        return response.content
    if answer == "text":
        return response.text
    if answer == "arrow" and response.headers.get("content-type", "").startswith(ARROW_STREAM):
        from crispml import score_stream  # here: the client starts without pyarrow

        return score_stream.decode(response.content)
    # orjson: a 10,000-score answer decodes in half the time the standard library's json takes.
    body = orjson.loads(response.content)
    return job_result(body) if job else body


Answer = Literal["json", "text", "bytes", "arrow"]
"""How an answer's body is handed back: decoded JSON, text (a page), bytes (a picture), or a score answer's
Arrow stream (its scores a pyarrow Table; JSON when the server answered JSON)."""
