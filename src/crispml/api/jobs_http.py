"""Answering with a job: 202 and a Location, or the finished job when the caller asked to wait."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from crispml.api.problems import problem_responses
from crispml.contract.answers import JobAnswer
from crispml.contract.requests import MAX_WAIT_S
from crispml.domain import Job
from crispml.services.jobs import JobService


def job_response(jobs: JobService, job: Job, wait: bool, timeout: float) -> JSONResponse:
    if wait:
        job = jobs.wait(job.id, min(max(timeout, 0.0), MAX_WAIT_S))
    status = 200 if job.status.finished else 202
    body = JobAnswer.from_domain(job).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers={"Location": f"/api/v1/jobs/{job.id}"})


def job_responses(*problems: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route answering a job: 202 while it runs, 200 once finished, and the problems."""
    return {
        200: {"model": JobAnswer, "description": "The finished job (wait=true and it ended in time)."},
        202: {"model": JobAnswer, "description": "The job, queued or running; poll its Location."},
        **problem_responses(*problems),
    }
