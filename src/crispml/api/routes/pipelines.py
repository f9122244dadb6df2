"""Pipelines as code: run a pipeline file (YAML or JSON) as one job, resume one, and its JSON schema."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from crispml.api.deps import JobsDep, PipelinesDep, SourcesDep
from crispml.api.jobs_http import job_response, job_responses
from crispml.contract import requests as req
from crispml.contract.pipeline import pipeline_schema
from crispml.services.pipelines import parse_pipeline, resolved_source
from crispml.services.visibility import writable_project

router = APIRouter(prefix="/api/v1/pipelines", tags=["pipelines"])
Wait = Annotated[req.Wait, Query()]
Timeout = Annotated[req.Timeout, Query()]
_BODY = {
    "requestBody": {
        "required": True,
        "description": "A pipeline file (see GET /api/v1/pipelines/schema), as YAML or JSON.",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


@router.get("/schema", summary="The JSON schema of a pipeline file", name="pipeline_schema")
def schema() -> dict[str, Any]:
    return pipeline_schema()


@router.post("", status_code=202, summary="Run a pipeline file as one job", openapi_extra=_BODY,
             responses=job_responses(403, 422))  # fmt: skip
async def run_pipeline(
    request: Request,
    pipelines: PipelinesDep,
    sources: SourcesDep,
    jobs: JobsDep,
    wait: Wait = False,
    timeout: Timeout = 300,
) -> Response:
    pipeline = parse_pipeline(await request.body())
    source = None
    if pipeline.ingest is not None:  # a caller who does not own this machine reads inside the data folder only
        source = sources.contained(resolved_source(pipeline.ingest.source.model_dump(), pipelines.data_dir))
        writable_project(pipeline.ingest.project)  # refused here, not as a failed job
    job = pipelines.submit(pipeline, source)
    return job_response(jobs, job, wait, timeout)


@router.post("/{job_id}/resume", status_code=202, summary="Resume an interrupted pipeline job from its next step",
             responses=job_responses(404, 409, 422))  # fmt: skip
def resume_pipeline(
    job_id: Annotated[req.Id, Path(description="The interrupted pipeline job.")],
    pipelines: PipelinesDep,
    jobs: JobsDep,
    wait: Wait = False,
    timeout: Timeout = 300,
) -> Response:
    return job_response(jobs, pipelines.resume(job_id), wait, timeout)
