"""Answering with a job: 202 and a Location, or the finished job when the caller asked to wait."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from crispml.api.problems import problem_responses
from crispml.contract.answers import JobAnswer
from crispml.domain import Job
from crispml.services.jobs import JobService


def job_response(jobs: JobService, job: Job, wait: bool, timeout: float) -> Response:
    """The job's answer; with `wait`, sent once the job ends or after `timeout` seconds, at most
    `JobService.max_wait_s` (a long-poll: the wait runs on the event loop, not on a worker thread, so
    a route that returns this releases its thread at once)."""
    if wait and not job.status.finished:
        return _WaitedJob(jobs, job, min(max(timeout, 0.0), jobs.max_wait_s))
    return _answer(job)


def _answer(job: Job) -> JSONResponse:
    status = 200 if job.status.finished else 202
    body = JobAnswer.from_domain(job).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers={"Location": f"/api/v1/jobs/{job.id}"})


class _WaitedJob(Response):
    """A response whose status and body are the job's once the wait is over."""

    def __init__(self, jobs: JobService, job: Job, wait_s: float) -> None:
        super().__init__(status_code=202)
        self.jobs, self.job, self.wait_s = jobs, job, wait_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        job = await self.jobs.wait_async(self.job.id, self.wait_s)
        await _answer(job)(scope, receive, send)


def job_responses(*problems: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route answering a job: 202 while it runs, 200 once finished, and the problems."""
    return {
        200: {"model": JobAnswer, "description": "The finished job (wait=true and it ended in time)."},
        202: {"model": JobAnswer, "description": "The job, queued or running; poll its Location."},
        **problem_responses(*problems),
    }
