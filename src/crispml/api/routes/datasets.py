"""Datasets: ingest (source spec or upload), list, get, prepare, curate."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from crispml.api.deps import ContainerDep
from crispml.api.jobs_http import job_response
from crispml.api.schemas import CurateIn, IngestIn, Offset, PrepareIn
from crispml.container import Container
from crispml.domain import SourceSpec, Stage
from crispml.errors import Forbidden, InvalidInput
from crispml.jsonable import jsonable

router = APIRouter(prefix="/api/v1/datasets", tags=["datasets"])
Wait = Annotated[bool, Query(description="Block until the job ends (or `timeout` passes).")]
Timeout = Annotated[float, Query(ge=0, le=3600, description="Seconds to wait with wait=true.")]


def _inside_data_dir(container: Container, spec: SourceSpec) -> SourceSpec:
    """A REST caller may only name server files inside the data folder."""
    if spec.path is None:
        return spec
    root = container.settings.resolved_data_dir
    path = (root / spec.path).resolve()
    if not path.is_relative_to(root):
        raise Forbidden(f"source path {spec.path!r} lies outside the data folder", field="source.path")
    return SourceSpec(path=str(path), url=spec.url, table=spec.table, query=spec.query)


def _ingest_job(container: Container, spec: SourceSpec, options: dict[str, Any], wait: bool, timeout: float) -> Any:
    def work(progress: Any) -> dict[str, Any]:
        return dict(jsonable(container.lifecycle.ingest(spec, progress=progress, **options)))

    job = container.jobs.submit("ingest", {"source": spec.describe(), **options}, work)
    return job_response(container, job, wait, timeout)


@router.post("", status_code=202, summary="DataIngestion from a source spec (runs as a job)")
def ingest(body: IngestIn, container: ContainerDep, wait: Wait = False, timeout: Timeout = 300) -> JSONResponse:
    spec = _inside_data_dir(container, body.source.spec())
    if not spec.path and not (spec.url and (spec.table or spec.query)):
        raise InvalidInput("name a source: a path, or a url with a table or a query", field="source")
    options = body.model_dump(exclude={"source"})
    response: JSONResponse = _ingest_job(container, spec, options, wait, timeout)
    return response


@router.post("/upload", status_code=202, summary="DataIngestion of an uploaded file (runs as a job)")
async def upload(
    container: ContainerDep,
    file: Annotated[UploadFile, File(description="CSV, zipped CSV or Parquet")],
    name: Annotated[str | None, Form(max_length=64)] = None,
    slices: Annotated[int, Form(ge=1, le=10_000)] = 12,
    percent_data: Annotated[float, Form(gt=0, le=1)] = 1.0,
    seed: Annotated[int, Form(ge=0)] = 42,
    target: Annotated[str, Form(min_length=1)] = "Class",
    key: Annotated[str | None, Form()] = None,
    time_column: Annotated[str | None, Form()] = None,
    wait: Wait = False,
    timeout: Timeout = 300,
) -> JSONResponse:
    original = Path(file.filename or "upload.csv").name
    if Path(original).suffix.lower() not in {".csv", ".zip", ".parquet"}:
        raise InvalidInput(f"cannot ingest {original!r}: upload a .csv, .zip or .parquet file", field="file")
    folder = container.settings.resolved_data_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target_path = folder / f"{uuid.uuid4().hex[:12]}-{original}"

    def save() -> None:
        with target_path.open("wb") as out:
            shutil.copyfileobj(file.file, out, 1 << 20)

    await run_in_threadpool(save)
    dataset_name = name or Path(original).name.split(".")[0]
    if not dataset_name[:1].isalpha():
        dataset_name = f"d{dataset_name}"
    options = {"name": dataset_name, "slices": slices, "percent_data": percent_data, "seed": seed, "target": target,
               "key": key, "time_column": time_column}  # fmt: skip
    response: JSONResponse = await run_in_threadpool(
        _ingest_job, container, SourceSpec(path=str(target_path)), options, wait, timeout
    )
    return response


@router.get("", summary="List dataset versions")
def list_datasets(
    container: ContainerDep,
    stage: Stage | None = None,
    name: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    found = [d for d in container.lifecycle.list_datasets(stage) if name is None or d.name == name]
    page = found[offset : offset + limit]
    return {"items": jsonable(page), "total": len(found), "limit": limit, "offset": offset}


@router.get("/{ref:path}/lineage", summary="Lineage of a dataset back to its raw source")
def dataset_lineage(ref: str, container: ContainerDep) -> list[Any]:
    return list(jsonable(container.lifecycle.lineage(container.lifecycle.get_dataset(ref).id)))


@router.post("/{ref:path}/prepare", status_code=201, summary="DataPreparation")
def prepare(ref: str, body: PrepareIn, container: ContainerDep) -> dict[str, Any]:
    return dict(jsonable(container.lifecycle.prepare(ref, missing=body.missing, name=body.name)))


@router.post("/{ref:path}/curate", status_code=201, summary="DataCuration")
def curate(ref: str, body: CurateIn, container: ContainerDep) -> dict[str, Any]:
    return dict(jsonable(container.lifecycle.curate(ref, algorithm=body.algorithm, frames=body.frames, name=body.name)))


@router.get("/{ref:path}", summary="A dataset version: schema, frames, stats and lineage")
def get_dataset(ref: str, container: ContainerDep) -> dict[str, Any]:
    dataset = container.lifecycle.get_dataset(ref)
    body: dict[str, Any] = jsonable(dataset)
    body["features"] = dataset.features
    body["lineage"] = jsonable(container.lifecycle.lineage(dataset.id))
    return body
