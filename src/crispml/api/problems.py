"""Errors as problem+json (RFC 9457), mapped from crispml's error tree in one table.

Routes of the Open Inference Protocol (`/v2...`) answer `{"error": "..."}` instead, as its clients expect.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

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

log = logging.getLogger("crispml.api")

PROBLEM_JSON = "application/problem+json"
OIP_PREFIX = "/v2"

# One row per error class: HTTP status and the problem type's slug.
STATUS: dict[type[CrispmlError], tuple[int, str]] = {
    InvalidInput: (422, "invalid-input"),
    TooManyAttempts: (429, "too-many-attempts"),  # before Unauthorized, its base class
    Unauthorized: (401, "unauthorized"),
    Erased: (410, "erased"),  # before NotFound, its base
    NotFound: (404, "not-found"),
    Conflict: (409, "conflict"),
    Forbidden: (403, "forbidden"),
    TooLarge: (413, "too-large"),
    IntegrityFailure: (500, "integrity-failure"),
    Unavailable: (503, "unavailable"),
}
NOT_OVER_HTTP = ("PortInUse", "AdminRequired")
"""Errors only the command line raises (a server that could not start answers nothing)."""
AS_THEIR_BASE = ("GateFailed",)
"""Errors answered with their base class's status and their own title (a pipeline's failed gate is a
Conflict: 409, titled GateFailed, in the job's error)."""


class FieldError(BaseModel):
    field: str
    message: str | None


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details)."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(examples=["/problems/not-found"], description="The problem's kind.")
    title: str = Field(examples=["NotFound"])
    status: int = Field(examples=[404])
    detail: str = Field(examples=["no model named 'fraud'"], description="What went wrong, for a person.")
    field: str | None = Field(None, description="The request field at fault, when one is.")
    errors: list[FieldError] | None = Field(None, description="Every invalid field, on a 422 from validation.")


class OipError(BaseModel):
    """An error answer of the Open Inference Protocol."""

    error: str


_DESCRIPTIONS = {
    401: "No API key, or a wrong, revoked or rotated-away one",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    429: "Too many failed logins: retry after Retry-After seconds",
    415: "Unsupported media type: send JSON or a table (Arrow, Parquet, CSV)",
    422: "Invalid input",
    503: "Unavailable",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status answered with a problem+json body."""
    schema = {"$ref": "#/components/schemas/Problem"}
    return {s: {"description": _DESCRIPTIONS.get(s, "Error"), "content": {PROBLEM_JSON: {"schema": schema}}}
            for s in statuses}  # fmt: skip


def oip_error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of an OIP v2 route: each status answered with `{"error": ...}`."""
    schema = {"$ref": "#/components/schemas/OipError"}
    return {s: {"description": _DESCRIPTIONS.get(s, "Error"), "content": {"application/json": {"schema": schema}}}
            for s in statuses}  # fmt: skip


def problem(status: int, slug: str, title: str, detail: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    if field is not None:
        body["field"] = field
    body.update(extra)
    # After a failure the connection's state is unknown: the client is told it ends with this answer.
    headers = {"Connection": "close"} if status == 500 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def for_error(exc: CrispmlError) -> JSONResponse:
    status, slug = next((value for kind, value in STATUS.items() if isinstance(exc, kind)), (400, "bad-request"))
    answer = problem(status, slug, type(exc).__name__, exc.message, exc.field)
    if isinstance(exc, TooManyAttempts):
        answer.headers["Retry-After"] = str(exc.retry_after)
    elif isinstance(exc, Unauthorized):
        answer.headers["WWW-Authenticate"] = 'Bearer realm="crispml"'
    return answer


def _for_request(request: Request, answer: JSONResponse, detail: str) -> JSONResponse:
    """The answer as problem+json, or as OIP's `{"error": ...}` on a /v2 route (same status and headers)."""
    if not request.url.path.startswith(OIP_PREFIX):
        return answer
    headers = {k: v for k, v in answer.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse({"error": detail}, status_code=answer.status_code, headers=headers)


_WHERE = {("body",), ("query",), ("path",), ("header",), ("cookie",)}


def install(app: FastAPI) -> None:
    """Register the handlers: crispml errors, request validation, HTTP errors and anything else."""

    @app.exception_handler(CrispmlError)
    async def _crispml(request: Request, exc: CrispmlError) -> JSONResponse:
        return _for_request(request, for_error(exc), exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = tuple(first.get("loc", ()))
        # The first part says where (body, query, path, header); a field may itself be called "path".
        field = ".".join(str(part) for part in (loc[1:] if loc[:1] in _WHERE else loc))
        detail = f"{field or 'request'}: {first.get('msg', 'invalid')}"
        simple = [{"field": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg")} for e in errors[:20]]
        return _for_request(request, problem(422, "invalid-input", "InvalidInput", detail, field or None,
                                             errors=simple), detail)  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(exc.status_code, "http-error")
        answer = problem(exc.status_code, slug, slug.replace("-", " ").capitalize(), str(exc.detail))
        answer.headers.update(exc.headers or {})  # 405 names the methods allowed (Allow)
        return _for_request(request, answer, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        detail = "the server failed; the error was logged"
        return _for_request(request, problem(500, "internal-error", "InternalError", detail), detail)
