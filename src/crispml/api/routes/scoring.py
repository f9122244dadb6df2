"""Scoring, labels and verification."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query

from crispml.api.deps import ContainerDep, blocking
from crispml.api.fast_json import OrjsonResponse, OrjsonRoute
from crispml.api.jobs_http import job_response
from crispml.api.schemas import LabelsIn, Offset, OptionalVersion, ScoreIn
from crispml.container import Container
from crispml.errors import InvalidInput
from crispml.jsonable import jsonable
from crispml.services.scoring import ScoreResult

router = APIRouter(prefix="/api/v1", tags=["scoring"], route_class=OrjsonRoute)


def model_ref(name: str, version: int | None, alias: str | None) -> str:
    if version is not None and alias is not None:
        raise InvalidInput("give a version or an alias, not both", field="version")
    return f"{name}/{version}" if version is not None else f"{name}@{alias or 'champion'}"


def batch_body(result: ScoreResult, *, with_scores: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "batch_id": result.batch.id,
        "model": result.batch.model_ref,
        "rows": result.batch.rows,
        "flagged": sum(result.records.decisions),
        "replayed": result.replayed,
        "created_at": result.batch.created_at.isoformat(),
    }
    if with_scores:
        body["scores"] = result.records.as_dicts()
    return body


@router.post("/models/{name}/score", summary="NewDataScore: records (answered at once) or dataset frames (a job)")
async def score(
    name: str,
    body: ScoreIn,
    container: ContainerDep,
    version: OptionalVersion = None,
    alias: Annotated[str | None, Query(max_length=64)] = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    wait: bool = False,
    timeout: Annotated[float, Query(ge=0, le=3600)] = 300,
) -> Any:
    ref = model_ref(name, version, alias)
    if (body.records is None) == (body.dataset is None):
        raise InvalidInput("send either records or a dataset", field="records")
    if body.records is not None:
        records = body.records
        hot = container.scoring.score_hot(ref, records) if idempotency_key is None else None
        if hot is not None:
            # Scored and committed by the group commit's writer; the answer waits for it without a thread.
            # A client that goes away cancels the wait only: the batch is written all the same.
            await asyncio.wrap_future(hot.durable)
            result = hot.result()
        else:
            result = await blocking(
                lambda: container.scoring.score(ref, records=records, idempotency_key=idempotency_key)
            )
        return OrjsonResponse(batch_body(result, with_scores=True))
    return await blocking(lambda: _score_dataset_job(container, ref, body, idempotency_key, wait, timeout))


def _score_dataset_job(
    container: Container, ref: str, body: ScoreIn, idempotency_key: str | None, wait: bool, timeout: float
) -> Any:
    container.lifecycle.get_model(ref)
    container.lifecycle.get_dataset(body.dataset or "")
    dataset, frames = body.dataset, body.frames

    def work(progress: Any) -> dict[str, Any]:
        result = container.scoring.score(
            ref, dataset=dataset, frames=frames, idempotency_key=idempotency_key, progress=progress
        )
        return batch_body(result, with_scores=False)

    job = container.jobs.submit("score", {"model": ref, "dataset": dataset, "frames": frames}, work)
    return job_response(container, job, wait, timeout)


@router.get("/score-batches/{batch_id}", summary="The persisted scores of one batch, a page at a time")
def batch_scores(
    batch_id: str,
    container: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    offset: Offset = 0,
) -> dict[str, Any]:
    result = container.scoring.batch(batch_id)
    page = ScoreResult(result.batch, result.records.page(offset, offset + limit), replayed=True)
    body = batch_body(page, with_scores=True)
    body.update({"rows": result.batch.rows, "limit": limit, "offset": offset})
    return body


@router.put("/labels", summary="NewDataLabel: upsert ground truth by record id")
def labels(body: LabelsIn, container: ContainerDep) -> dict[str, Any]:
    if (body.labels is None) == (body.dataset is None):
        raise InvalidInput("send either labels or a dataset", field="labels")
    if body.labels is not None:
        records = [item.model_dump() for item in body.labels]
        return dict(jsonable(container.scoring.label(records=records)))
    return dict(jsonable(container.scoring.label(dataset=body.dataset, frames=body.frames)))


@router.get("/reports/verification", summary="NewDataReport: persisted scores against labels per frame")
def verification(
    container: ContainerDep,
    model: Annotated[str, Query(min_length=1, max_length=200, description="fraud@champion, fraud/3 or fraud")],
    frames: str | None = None,
) -> dict[str, Any]:
    return dict(jsonable(container.scoring.verify(model, frames=frames)))
