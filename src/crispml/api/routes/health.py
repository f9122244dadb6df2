"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from crispml.api.deps import ContainerDep

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process answers")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database and the artifact store are reachable")
def readyz(container: ContainerDep) -> JSONResponse:
    checks: dict[str, Any] = container.operations.readiness()
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503)
