"""Errors as problem+json (RFC 9457), mapped from crispml's error tree in one table."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from crispml.errors import Conflict, CrispmlError, Forbidden, IntegrityFailure, InvalidInput, NotFound, TooLarge

log = logging.getLogger("crispml.api")

PROBLEM_JSON = "application/problem+json"

# One row per error class: HTTP status and the problem type's slug.
STATUS: dict[type[CrispmlError], tuple[int, str]] = {
    InvalidInput: (422, "invalid-input"),
    NotFound: (404, "not-found"),
    Conflict: (409, "conflict"),
    Forbidden: (403, "forbidden"),
    TooLarge: (413, "too-large"),
    IntegrityFailure: (500, "integrity-failure"),
}


def problem(status: int, slug: str, title: str, detail: str, field: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def for_error(exc: CrispmlError) -> JSONResponse:
    status, slug = next((value for kind, value in STATUS.items() if isinstance(exc, kind)), (400, "bad-request"))
    return problem(status, slug, type(exc).__name__, exc.message, exc.field)


def install(app: FastAPI) -> None:
    """Register the handlers: crispml errors, request validation, HTTP errors and anything else."""

    @app.exception_handler(CrispmlError)
    async def _crispml(_request: Request, exc: CrispmlError) -> JSONResponse:
        return for_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path"))
        detail = f"{field or 'request'}: {first.get('msg', 'invalid')}"
        simple = [{"field": ".".join(map(str, e.get("loc", ()))), "message": e.get("msg")} for e in errors[:20]]
        return problem(422, "invalid-input", "InvalidInput", detail, field or None, errors=simple)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, slug, slug.replace("-", " ").capitalize(), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal-error", "InternalError", "the server failed; the error was logged")
