"""Scoring, labels and verification."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import JSONResponse

from crispml.api.deps import ScoringDep, Services, ServicesDep
from crispml.api.fast_json import OrjsonResponse, OrjsonRoute
from crispml.api.jobs_http import job_response
from crispml.api.problems import problem_responses
from crispml.contract import METHODS
from crispml.contract import requests as req
from crispml.contract.answers import JobAnswer, LabelReportAnswer, ScoreBatchAnswer, ScoreBatchPage, VerificationAnswer
from crispml.domain import ModelRef
from crispml.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["scoring"], route_class=OrjsonRoute)

_SCORE_EXAMPLE = {"batch_id": "sb-51c0ab2e", "model": "fraud/1", "rows": 1, "flagged": 0,
                  "created_at": "2026-01-01T12:00:00+00:00", "replayed": False,
                  "scores": [{"record_id": "r-9f2c", "frame": None, "score": 0.013, "decision": 0}]}  # fmt: skip


def model_ref(name: str, version: int | None, alias: str | None) -> str:
    """The version REST names: `version`, else `alias`, else the champion."""
    default = "champion" if version is None and alias is None else alias
    return str(ModelRef.of(name, version=version, alias=default))


@router.post(
    "/models/{name}/score",
    summary=METHODS["score"].summary,
    # The answer is built as plain JSON and sent as it is (no validation): this is the hot path.
    response_class=OrjsonResponse,
    response_model=None,
    responses={
        200: {"model": ScoreBatchAnswer, "description": "Records scored and committed.",
              "content": {"application/json": {"example": _SCORE_EXAMPLE}}},
        202: {"model": JobAnswer, "description": "A dataset's frames are being scored as a job."},
        **problem_responses(404, 409, 413, 422),
    },
)  # fmt: skip
async def score(
    name: Annotated[req.Name, Path()],
    body: req.ScoreBody,
    services: ServicesDep,
    version: Annotated[req.Version | None, Query()] = None,
    alias: Annotated[req.Alias | None, Query()] = None,
    idempotency_key: Annotated[req.IdempotencyKey | None, Header()] = None,
    wait: Annotated[req.Wait, Query()] = False,
    timeout: Annotated[req.Timeout, Query()] = 300,
) -> Any:
    ref = model_ref(name, version, alias)
    if (body.records is None) == (body.dataset is None):
        raise InvalidInput("send either records or a dataset", field="records")
    if body.records is not None:
        records = body.records
        scoring = services.scoring
        hot = scoring.score_hot(ref, records) if idempotency_key is None else None
        if hot is not None:
            # Scored and committed by the group commit's writer; the answer waits for it without a thread.
            # A client that goes away cancels the wait only: the batch is written all the same.
            await asyncio.wrap_future(hot.durable)
            result = hot.result()
        else:
            result = await services.blocking(
                lambda: scoring.score(ref, records=records, idempotency_key=idempotency_key)
            )
        return OrjsonResponse(ScoreBatchAnswer.dump(result))
    return await services.blocking(lambda: _score_dataset_job(services, ref, body, idempotency_key, wait, timeout))


def _score_dataset_job(
    services: Services, ref: str, body: req.ScoreBody, idempotency_key: str | None, wait: bool, timeout: float
) -> JSONResponse:
    services.lifecycle.get_model(ref)
    services.lifecycle.get_dataset(body.dataset or "")
    dataset, frames = body.dataset, body.frames
    scoring = services.scoring

    def work(progress: Any) -> dict[str, Any]:
        result = scoring.score(ref, dataset=dataset, frames=frames, idempotency_key=idempotency_key, progress=progress)
        return ScoreBatchAnswer.dump(result, with_scores=False)

    job = services.jobs.submit("score", {"model": ref, "dataset": dataset, "frames": frames}, work)
    return job_response(services.jobs, job, wait, timeout)


@router.get(
    "/score-batches/{batch_id}",
    summary=METHODS["batch"].summary,
    response_class=OrjsonResponse,
    response_model=None,
    responses={200: {"model": ScoreBatchPage, "description": "A page of the batch's scores."},
               **problem_responses(404, 422)},
)  # fmt: skip
def batch(
    batch_id: Annotated[req.Id, Path()],
    scoring: ScoringDep,
    limit: Annotated[req.BatchLimit, Query()] = 1000,
    offset: Annotated[req.Offset, Query()] = 0,
) -> OrjsonResponse:
    return OrjsonResponse(ScoreBatchPage.dump(scoring.batch(batch_id), limit, offset))


@router.put("/labels", summary=METHODS["label"].summary, responses=problem_responses(404, 422))
def label(body: req.LabelRequest, scoring: ScoringDep) -> LabelReportAnswer:
    if (body.labels is None) == (body.dataset is None):
        raise InvalidInput("send either labels or a dataset", field="labels")
    if body.labels is not None:
        report = scoring.label(records=[item.model_dump() for item in body.labels])
    else:
        report = scoring.label(dataset=body.dataset, frames=body.frames)
    return LabelReportAnswer.from_domain(report)


@router.get("/reports/verification", summary=METHODS["verify"].summary, responses=problem_responses(404, 422))
def verify(
    scoring: ScoringDep,
    model: Annotated[req.ModelRefText, Query()],
    frames: Annotated[req.Frames | None, Query()] = None,
) -> VerificationAnswer:
    return VerificationAnswer.from_domain(scoring.verify(model, frames=frames))
