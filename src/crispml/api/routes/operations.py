"""Performance records over HTTP."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from crispml.api.deps import ContainerDep
from crispml.jsonable import jsonable

router = APIRouter(prefix="/api/v1", tags=["operations"])


@router.get("/perf", summary="Performance records with medians per method")
def perf(
    container: ContainerDep,
    method: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    records, summaries = container.operations.perf(method, limit)
    return {"summary": jsonable(summaries), "records": jsonable(records)}
