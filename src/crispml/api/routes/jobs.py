"""Durable jobs: status, progress, result or error; wait; cancel."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from crispml.api.deps import ContainerDep
from crispml.api.jobs_http import job_response
from crispml.api.schemas import Offset
from crispml.domain import JobStatus
from crispml.jsonable import jsonable

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])


@router.get("", summary="Recent jobs")
def list_jobs(
    container: ContainerDep,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[Any]:
    return list(jsonable(container.jobs.list_jobs(status, limit, offset)))


@router.get("/{job_id}", summary="A job: status, progress, result or error")
def get_job(
    job_id: str,
    container: ContainerDep,
    wait: bool = False,
    timeout: Annotated[float, Query(ge=0, le=3600)] = 300,
) -> JSONResponse:
    return job_response(container, container.jobs.get(job_id), wait, timeout)


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job")
def cancel_job(job_id: str, container: ContainerDep) -> dict[str, Any]:
    return dict(jsonable(container.jobs.cancel(job_id)))
