"""Answering with a job: 202 and a Location, or the finished job when the caller asked to wait."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from crispml.container import Container
from crispml.domain import Job
from crispml.jsonable import jsonable

MAX_WAIT_S = 3600.0


def job_response(container: Container, job: Job, wait: bool, timeout: float) -> JSONResponse:
    if wait:
        job = container.jobs.wait(job.id, min(max(timeout, 0.0), MAX_WAIT_S))
    status = 200 if job.status.finished else 202
    return JSONResponse(jsonable(job), status_code=status, headers={"Location": f"/api/v1/jobs/{job.id}"})
