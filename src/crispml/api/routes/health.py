"""Liveness and readiness."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from crispml.api.deps import OperationsDep

router = APIRouter(tags=["health"])


class Live(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "unavailable"] = Field(
        description="degraded: ready, but some model reference is answered by its name's fallback version "
        "(HTTP 200 all the same, so that load balancers keep the instance)."
    )
    environment: Literal["dev", "qa", "prod"]
    checks: dict[str, dict[str, Any]]
    degraded: dict[str, str] = Field(
        description="Model references answered by their fallback version, each with the reason."
    )


@router.get("/healthz", summary="The process answers")
def healthz() -> Live:
    return Live(status="ok")


@router.get("/readyz", summary="The database and the artifact store are reachable; which models are degraded",
            responses={200: {"model": Readiness}, 503: {"model": Readiness, "description": "Not ready"}})  # fmt: skip
def readyz(operations: OperationsDep) -> JSONResponse:
    checks: dict[str, Any] = operations.readiness()
    ready = all(check["ok"] for check in checks.values())
    degraded = operations.degraded() if ready else {}
    status = "unavailable" if not ready else "degraded" if degraded else "ready"
    answer = {"status": status, "environment": operations.environment, "checks": checks, "degraded": degraded}
    return JSONResponse(answer, 200 if ready else 503)
