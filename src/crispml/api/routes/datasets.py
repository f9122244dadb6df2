"""Datasets: ingest (source spec or upload), list, get, prepare, curate."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from pydantic import Json
from starlette.concurrency import run_in_threadpool

from crispml.api.deps import IngestionDep, JobsDep, LifecycleDep, SettingsDep, SourcesDep
from crispml.api.jobs_http import job_response, job_responses
from crispml.api.problems import problem_responses
from crispml.contract import METHODS
from crispml.contract import requests as req
from crispml.contract.answers import DatasetAnswer, DatasetDetail, LineageNodeAnswer, Page
from crispml.domain import SourceSpec, Stage
from crispml.errors import InvalidInput
from crispml.services.ingestion import IngestionService
from crispml.services.jobs import JobService
from crispml.services.visibility import writable_project
from crispml.services.worker import ingest_job

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])
Wait = Annotated[req.Wait, Query()]
Timeout = Annotated[req.Timeout, Query()]
DatasetRef = Annotated[req.Ref, Path(description="A dataset: name, name/version or id.")]
MAX_UPLOAD_NAME = 200
"""Bytes of an uploaded file's name (the stored name adds a 13-byte prefix; file systems hold 255)."""


def _ingest_job(
    ingestion: IngestionService,
    jobs: JobService,
    spec: SourceSpec,
    options: dict[str, Any],
    wait: bool,
    timeout: float,
    upload: FilePath | None = None,
) -> Response:
    spec_fields = {k: v for k, v in vars(spec).items() if v is not None}  # names and paths, never a URL
    params = {"source": spec.describe(), **options, "spec": spec_fields, "upload": upload is not None}
    job = jobs.submit("ingest", params, lambda progress: ingest_job(ingestion, params, progress))
    return job_response(jobs, job, wait, timeout)


@router.post("", status_code=202, summary=METHODS["ingest"].summary, responses=job_responses(403, 422))
def ingest(
    body: req.IngestBody,
    sources: SourcesDep,
    ingestion: IngestionDep,
    jobs: JobsDep,
    wait: Wait = False,
    timeout: Timeout = 300,
) -> Response:
    spec = sources.contained(body.source.spec())
    if spec.pool is not None and (spec.path or spec.source or spec.table or spec.query):
        raise InvalidInput("a pool dataset is read alone: name no path, source, table or query with it",
                           field="source.pool")  # fmt: skip
    if spec.pool is not None:
        ingestion.pool.check()  # no pool, or a bad filter: refused here (422), not as a failed job
    if not spec.path and not spec.source and not spec.pool:
        raise InvalidInput("name a source: a path, a registered source with a table or a query, or a pool dataset",
                           field="source")  # fmt: skip
    options = body.model_dump(exclude={"source"})
    options["project"] = writable_project(body.project)  # refused here, not as a failed job
    return _ingest_job(ingestion, jobs, spec, options, wait, timeout)


@router.post("/upload", status_code=202, summary="DataIngestion of an uploaded file (runs as a job)",
             responses=job_responses(413, 422))  # fmt: skip
async def upload(
    settings: SettingsDep,
    ingestion: IngestionDep,
    jobs: JobsDep,
    file: Annotated[UploadFile, File(description="CSV, zipped CSV or Parquet")],
    name: Annotated[str | None, Form(max_length=64)] = None,
    slices: Annotated[int, Form(ge=1, le=10_000)] = 12,
    percent_data: Annotated[float, Form(gt=0, le=1)] = 1.0,
    seed: Annotated[int, Form(ge=0, le=2**32 - 1)] = 42,
    target: Annotated[str, Form(min_length=1, max_length=128)] = "Class",
    key: Annotated[str | None, Form(max_length=128)] = None,
    time_column: Annotated[str | None, Form(max_length=128)] = None,
    project: Annotated[str | None, Form(max_length=64)] = None,
    tags: Annotated[Json[dict[req.ColumnName, req.ColumnTag]] | None, Form(description="Column tags (JSON).")] = None,
    wait: Wait = False,
    timeout: Timeout = 300,
) -> Response:
    original = FilePath(file.filename or "upload.csv").name
    if FilePath(original).suffix.lower() not in {".csv", ".zip", ".parquet"} or "\x00" in original:
        raise InvalidInput(f"cannot ingest {original!r}: upload a .csv, .zip or .parquet file", field="file")
    if len(original.encode()) > MAX_UPLOAD_NAME:  # the stored name must fit the file system's 255 bytes
        raise InvalidInput(
            f"upload name {original[:40]!r}... is {len(original.encode())} bytes long; at most {MAX_UPLOAD_NAME}",
            field="file",
        )
    folder = settings.resolved_data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target_path = folder / f"{uuid.uuid4().hex[:12]}-{original}"

    def save() -> None:
        try:
            with target_path.open("wb") as out:
                shutil.copyfileobj(file.file, out, 1 << 20)
        except BaseException:
            target_path.unlink(missing_ok=True)
            raise

    await run_in_threadpool(save)
    dataset_name = name or FilePath(original).name.split(".")[0]
    if not dataset_name[:1].isalpha():
        dataset_name = f"d{dataset_name}"
    options = {"name": dataset_name, "slices": slices, "percent_data": percent_data, "seed": seed, "target": target,
               "key": key, "time_column": time_column, "project": writable_project(project),
               "tags": tags}  # fmt: skip
    try:
        return await run_in_threadpool(
            _ingest_job, ingestion, jobs, SourceSpec(path=str(target_path)), options, wait, timeout, target_path
        )
    except BaseException:  # no job was queued: nothing stays behind
        target_path.unlink(missing_ok=True)
        raise


@router.get("", summary=METHODS["datasets"].summary, responses=problem_responses(422))
def datasets(
    lifecycle: LifecycleDep,
    stage: Annotated[Stage | None, Query()] = None,
    name: Annotated[req.Name | None, Query()] = None,
    limit: Annotated[req.Limit, Query()] = 100,
    offset: Annotated[req.Offset, Query()] = 0,
) -> Page[DatasetAnswer]:
    found = [d for d in lifecycle.list_datasets(stage) if name is None or d.name == name]
    page = [DatasetAnswer.from_domain(d) for d in found[offset : offset + limit]]
    return Page[DatasetAnswer].of(page, len(found), limit, offset)


@router.get("/{dataset:path}/lineage", summary="Lineage of a dataset back to its raw source",
            responses=problem_responses(404, 422))  # fmt: skip
def dataset_lineage(dataset: DatasetRef, lifecycle: LifecycleDep) -> Page[LineageNodeAnswer]:
    nodes = [LineageNodeAnswer.from_domain(n) for n in lifecycle.lineage(lifecycle.get_dataset(dataset).id)]
    return Page[LineageNodeAnswer].of(nodes, len(nodes))


@router.post("/{dataset:path}/prepare", status_code=201, summary=METHODS["prepare"].summary,
             responses=problem_responses(404, 409, 422))  # fmt: skip
def prepare(dataset: DatasetRef, body: req.PrepareBody, lifecycle: LifecycleDep) -> DatasetAnswer:
    return DatasetAnswer.from_domain(lifecycle.prepare(dataset, missing=body.missing, name=body.name))


@router.post("/{dataset:path}/curate", status_code=201, summary=METHODS["curate"].summary,
             responses=problem_responses(404, 409, 422))  # fmt: skip
def curate(dataset: DatasetRef, body: req.CurateBody, lifecycle: LifecycleDep) -> DatasetAnswer:
    return DatasetAnswer.from_domain(
        lifecycle.curate(dataset, algorithm=body.algorithm, frames=body.frames, name=body.name)
    )


@router.get("/{dataset:path}", summary="A dataset version: schema, frames, stats and lineage",
            responses=problem_responses(404, 422))  # fmt: skip
def dataset(dataset: DatasetRef, lifecycle: LifecycleDep) -> DatasetDetail:
    found = lifecycle.get_dataset(dataset)
    return DatasetDetail.with_lineage(found, lifecycle.lineage(found.id))
