"""Liveness and readiness."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from crispml.api.deps import OperationsDep

router = APIRouter(tags=["health"])


class Live(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, dict[str, Any]]


@router.get("/healthz", summary="The process answers")
def healthz() -> Live:
    return Live(status="ok")


@router.get("/readyz", summary="The database and the artifact store are reachable",
            responses={200: {"model": Readiness}, 503: {"model": Readiness, "description": "Not ready"}})  # fmt: skip
def readyz(operations: OperationsDep) -> JSONResponse:
    checks: dict[str, Any] = operations.readiness()
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503)
