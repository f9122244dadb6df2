"""Durable jobs: status, progress, result or error; wait; cancel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from crispml.api.deps import JobsDep
from crispml.api.jobs_http import job_response, job_responses
from crispml.api.problems import problem_responses
from crispml.contract import METHODS
from crispml.contract import requests as req
from crispml.contract.answers import JobAnswer, Page
from crispml.domain import JobStatus

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"])
JobId = Annotated[req.Id, Path(description="A job's id.")]


@router.get("", summary=METHODS["jobs"].summary, responses=problem_responses(422))
def jobs(
    service: JobsDep,
    status: Annotated[JobStatus | None, Query()] = None,
    limit: Annotated[req.Limit, Query()] = 100,
    offset: Annotated[req.Offset, Query()] = 0,
) -> Page[JobAnswer]:
    # One more than the page tells whether a next page exists without counting them all.
    found = service.list_jobs(status, limit + 1, offset)
    page = [JobAnswer.from_domain(j) for j in found[:limit]]
    more = len(found) > limit
    return Page[JobAnswer](items=page, total=None, limit=limit, offset=offset,
                           next=offset + limit if more else None)  # fmt: skip


@router.get("/{job_id}", summary=METHODS["job"].summary, responses=job_responses(404, 422))
def job(
    job_id: JobId,
    service: JobsDep,
    wait: Annotated[req.Wait, Query()] = False,
    timeout: Annotated[req.Timeout, Query()] = 300,
) -> Response:
    return job_response(service, service.get(job_id), wait, timeout)


@router.post("/{job_id}/cancel", summary="Cancel a queued or running job", responses=problem_responses(404, 409, 422))
def cancel(job_id: JobId, service: JobsDep) -> JobAnswer:
    return JobAnswer.from_domain(service.cancel(job_id))
