"""Performance records over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from crispml.api.deps import OperationsDep
from crispml.api.problems import problem_responses
from crispml.contract import METHODS
from crispml.contract import requests as req
from crispml.contract.answers import PerfAnswer

router = APIRouter(prefix="/api/v1", tags=["operations"])


@router.get("/perf", summary=METHODS["perf"].summary, responses=problem_responses(422))
def perf(
    operations: OperationsDep,
    method: Annotated[req.MethodName | None, Query()] = None,
    limit: Annotated[req.PerfLimit, Query()] = 1000,
) -> PerfAnswer:
    records, summaries = operations.perf(method, limit)
    return PerfAnswer.from_domain(records, summaries, limit)
