"""Scoring, labels and verification."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.routing import APIRoute

from crispml import reports, score_stream
from crispml.api import pictures
from crispml.api.auth import authorize
from crispml.api.deps import ScoringDep, Services, ServicesDep
from crispml.api.fast_json import OrjsonResponse, OrjsonRoute
from crispml.api.jobs_http import job_response
from crispml.api.problems import problem, problem_responses
from crispml.contract import METHODS
from crispml.contract import requests as req
from crispml.contract.answers import JobAnswer
from crispml.contract.scoring import (
    EstimationAnswer,
    LabelReportAnswer,
    ScoreBatchAnswer,
    ScoreBatchPage,
    VerificationAnswer,
)
from crispml.domain.refs import ModelRef
from crispml.errors import InvalidInput
from crispml.score_stream import ARROW_STREAM
from crispml.services.worker import score_job
from crispml.steps.tables import CSV, PARQUET, TABLE_MEDIA_TYPES, read_table_body

router = APIRouter(prefix="/api/v1", tags=["scoring"], route_class=OrjsonRoute)

_SCORE_EXAMPLE = {"batch_id": "sb-51c0ab2e", "model": "fraud/1", "rows": 1, "flagged": 0,
                  "created_at": "2026-01-01T12:00:00+00:00", "replayed": False,
                  "scores": [{"record_id": "r-9f2c", "frame": None, "score": 0.013, "decision": 0}]}  # fmt: skip


def model_ref(name: str, version: int | None, alias: str | None) -> str:
    """The version REST names: `version`, else `alias`, else the champion."""
    default = "champion" if version is None and alias is None else alias
    return str(ModelRef.of(name, version=version, alias=default))


def _table_content() -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        ARROW_STREAM: {**binary, "description": "An Arrow IPC stream: one column per feature, optional record_id."},
        PARQUET: {**binary, "description": "A Parquet file, columns as for Arrow."},
        "application/x-parquet": binary,
        CSV: {"schema": {"type": "string"}, "description": "CSV with a header row; record_id is read as text."},
    }


class ScoreRoute(OrjsonRoute):
    """The score route, chosen by Content-Type before anything else: JSON (or none) goes to `score` as
    it always has, one header read being all it adds; a table's media type goes to `score_table`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        json_handler = super().get_route_handler()
        table_handler = APIRoute(
            self.path,
            score_table,
            methods=["POST"],
            # What guards the route guards its table bodies too. The app-wide authorization is named
            # here as well: FastAPI adds an app's dependencies to the routes it includes, not to this one.
            dependencies=[Depends(authorize), *self.dependencies],
            dependency_overrides_provider=self.dependency_overrides_provider,
        ).get_route_handler()

        async def by_content_type(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if content_type is None or content_type.startswith("application/json"):
                return await json_handler(request)
            media_type = content_type.partition(";")[0].strip().lower()
            if media_type == "application/json" or media_type.endswith("+json"):
                return await json_handler(request)
            if media_type not in TABLE_MEDIA_TYPES:
                return problem(415, "unsupported-media-type", "UnsupportedMediaType",
                               f"cannot score a {media_type or 'nameless'} body; send application/json or a table as "
                               f"{', '.join(TABLE_MEDIA_TYPES)}", field="content-type")  # fmt: skip
            return await table_handler(request)

        return by_content_type


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
    if body.dataframe_split is not None:
        return await _score_split(services, ref, body, idempotency_key)
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


async def score_table(
    name: Annotated[req.Name, Path()],
    request: Request,
    services: ServicesDep,
    version: Annotated[req.Version | None, Query()] = None,
    alias: Annotated[req.Alias | None, Query()] = None,
    idempotency_key: Annotated[req.IdempotencyKey | None, Header()] = None,
) -> Response:
    """`score` of a table sent as Arrow, Parquet or CSV (`ScoreRoute` sends such bodies here)."""
    ref = model_ref(name, version, alias)
    media_type = request.headers["content-type"].partition(";")[0].strip().lower()
    data = await request.body()
    scoring = services.scoring
    result = await services.blocking(
        lambda: scoring.score(ref, table=read_table_body(data, media_type), idempotency_key=idempotency_key)
    )
    if _asks_for_arrow(request.headers.get("accept")):
        answer = ScoreBatchAnswer.dump(result, with_scores=False)
        return Response(score_stream.encode(answer, result.records), media_type=ARROW_STREAM)
    return OrjsonResponse(ScoreBatchAnswer.dump(result))


def _asks_for_arrow(accept: str | None) -> bool:
    """Whether Accept names the Arrow stream, and rates it no lower than JSON (q, 1 when not given)."""
    accept = (accept or "").lower()
    if ARROW_STREAM not in accept:
        return False
    quality = {ARROW_STREAM: 0.0, "application/json": 0.0}
    for media_range in accept.split(","):
        media_type, *params = (part.strip() for part in media_range.split(";"))
        if media_type in quality:
            q = next((p.partition("=")[2] for p in params if p.startswith("q=")), "1")
            try:
                quality[media_type] = float(q)
            except ValueError:
                continue
    return quality[ARROW_STREAM] > 0 and quality[ARROW_STREAM] >= quality["application/json"]


router.add_api_route(
    "/models/{name}/score",
    score,
    methods=["POST"],
    route_class_override=ScoreRoute,
    summary=METHODS["score"].summary,
    # The answer is built as plain JSON and sent as it is (no validation): this is the hot path.
    response_class=OrjsonResponse,
    response_model=None,
    responses={
        200: {"model": ScoreBatchAnswer, "description": "Records scored and committed. A table's request "
              f"that accepts {ARROW_STREAM} gets its scores as an Arrow stream (record_id, frame, score, "
              "decision), the rest of the answer as JSON in the schema's metadata under crispml.answer.",
              "content": {"application/json": {"example": _SCORE_EXAMPLE},
                          ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}}}},
        202: {"model": JobAnswer, "description": "A dataset's frames are being scored as a job."},
        **problem_responses(404, 409, 413, 415, 422),
    },
    openapi_extra={"requestBody": {"content": _table_content()}},
)  # fmt: skip


async def _score_split(services: Services, ref: str, body: req.ScoreBody, idempotency_key: str | None) -> Response:
    split = body.dataframe_split
    if split is None or body.records is not None or body.dataset is not None:
        raise InvalidInput("send one of records, dataframe_split or a dataset", field="dataframe_split")
    records = split.records()
    scoring = services.scoring
    result = await services.blocking(lambda: scoring.score(ref, records=records, idempotency_key=idempotency_key))
    return OrjsonResponse(ScoreBatchAnswer.dump(result))


def _score_dataset_job(
    services: Services, ref: str, body: req.ScoreBody, idempotency_key: str | None, wait: bool, timeout: float
) -> Response:
    services.lifecycle.get_model(ref)
    services.lifecycle.get_dataset(body.dataset or "")
    dataset, frames = body.dataset, body.frames
    scoring = services.scoring

    params = {"model": ref, "dataset": dataset, "frames": frames, "idempotency_key": idempotency_key}
    job = services.jobs.submit("score", params, lambda progress: score_job(scoring, params, progress))
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


@router.get("/reports/verification", summary=METHODS["verify"].summary, response_model=VerificationAnswer,
            responses={**pictures.PAGE_CONTENT, **problem_responses(404, 422)})  # fmt: skip
def verify(
    scoring: ScoringDep,
    model: Annotated[req.ModelRefText, Query()],
    frames: Annotated[req.Frames | None, Query()] = None,
    format: Annotated[req.PageFormatField, Query()] = "json",
    compare: Annotated[req.Compare | None, Query()] = None,
    level: Annotated[req.Significance, Query()] = 0.05,
) -> Any:
    answer = VerificationAnswer.from_domain(scoring.verify(model, frames=frames, compare=compare, level=level))
    return pictures.page(reports.verification_page(answer.model_dump(mode="json"))) if format == "html" else answer


@router.get("/reports/estimate", summary=METHODS["estimate"].summary, response_model=EstimationAnswer,
            responses=problem_responses(404, 422))  # fmt: skip
def estimate(
    scoring: ScoringDep,
    model: Annotated[req.ModelRefText, Query()],
    frames: Annotated[req.Frames | None, Query()] = None,
    since: Annotated[req.Since | None, Query()] = None,
    level: Annotated[req.Coverage, Query()] = 0.99,
) -> EstimationAnswer:
    return EstimationAnswer.from_domain(scoring.estimate(model, frames=frames, since=since, level=level))


@router.get("/reports/verification/plots/{plot}", response_class=Response,
            summary="A picture of NewDataReport: realized KPIs, or labelled and unlabelled counts, by frame",
            responses={**pictures.IMAGE_CONTENT, **problem_responses(404, 422)})  # fmt: skip
def verify_plot(
    plot: Annotated[req.VerificationPlot, Path(description="kpi-by-frame or labelled.")],
    scoring: ScoringDep,
    model: Annotated[req.ModelRefText, Query()],
    frames: Annotated[req.Frames | None, Query()] = None,
    format: Annotated[req.ImageFormatField, Query()] = "svg",
) -> Response:
    answer = VerificationAnswer.from_domain(scoring.verify(model, frames=frames)).model_dump(mode="json")
    name = model.replace("/", "-").replace("@", "-")
    return pictures.image(reports.verification_plot(answer, plot, format), format, f"verification-{name}-{plot}")
