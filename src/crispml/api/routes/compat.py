"""The reference service's routes, with its parameter names and answers, so existing clients (the
Shiny console, k6 scripts) work unchanged.

Each answer is what plumber's `@json` made of the R function's return value: a JSON array holding one
string, itself the JSON of a data frame's rows (`jsonlite::toJSON`, 4 decimal digits, row names under
`_row`). The reference's tables are dataset names: CCF_ING (raw), CCF_PREP (prepared), CCF_CUR (curated).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Query

from crispml.api.deps import IngestionDep, LifecycleDep, ScoringDep, SettingsDep
from crispml.api.problems import problem_responses
from crispml.domain import SourceSpec
from crispml.domain.refs import ModelRef
from crispml.services.reference import ensure_reference_source

router = APIRouter(prefix="/crispml", tags=["reference compatibility"], responses=problem_responses(404, 409, 422))

INGESTED, PREPARED, CURATED = "CCF_ING", "CCF_PREP", "CCF_CUR"
_SUMMARY_ROWS = (("Min.", "min"), ("1st Qu.", "q1"), ("Median", "median"), ("Mean", "mean"), ("3rd Qu.", "q3"),
                 ("Max.", "max"))  # fmt: skip
FromFrame = Annotated[int, Query(alias="from", ge=1, le=10_000, description="First frame.")]
ToFrame = Annotated[int, Query(alias="to", ge=1, le=10_000, description="Last frame.")]
Model = Annotated[str, Query(pattern="^(rf|hgb|lgbm|logreg)$", description="Algorithm: rf, hgb, lgbm or logreg.")]


def _answer(rows: list[dict[str, Any]]) -> list[str]:
    return [json.dumps([{k: _r4(v) for k, v in row.items()} for row in rows])]


def _r4(value: Any) -> Any:
    if isinstance(value, float):
        return None if not math.isfinite(value) else round(value, 4)
    return value


def _report(report: dict[str, Any]) -> list[str]:
    """A step's report as a two-column data frame (measure, value), nested values as JSON text."""
    return _answer(
        [{"measure": k, "value": json.dumps(v) if isinstance(v, list | dict) else v} for k, v in report.items()]
    )


def _summary(stats: list[dict[str, Any]], target: str) -> list[str]:
    """R's sapply(df[, 1:30], summary) as rows Min. .. Max., one column per numeric feature."""
    columns = [s for s in stats if s["column"] != target][:30]
    return _answer([{**{s["column"]: s[key] for s in columns}, "_row": label} for label, key in _SUMMARY_ROWS])


def _model_name(model: str) -> str:
    return f"CCF_{model.upper()}"


def _frames(start: int, end: int) -> str:
    return f"{min(start, end)}-{max(start, end)}"


@router.get("/repDataIngest", summary="Ingest the reference file into CCF_ING; answers the numeric summary")
def rep_data_ingest(
    settings: SettingsDep,
    ingestion: IngestionDep,
    slices: Annotated[int, Query(ge=1, le=10_000)] = 12,
    percentData: Annotated[float, Query(gt=0, le=1)] = 0.01,
) -> list[str]:
    path = ensure_reference_source(settings.resolved_reference_source)
    dataset = ingestion.ingest(SourceSpec(path=str(path)), name=INGESTED, slices=slices, percent_data=percentData)
    return _summary(dataset.report["stats"], dataset.target)


@router.get("/repDataPrepare", summary="Prepare the newest CCF_ING into CCF_PREP")
def rep_data_prepare(lifecycle: LifecycleDep, table: str = INGESTED) -> list[str]:
    dataset = lifecycle.prepare(table, name=PREPARED)
    return _report(dataset.report)


@router.get("/repDataCurate", summary="Curate the newest CCF_PREP into CCF_CUR")
def rep_data_curate(
    lifecycle: LifecycleDep,
    table: str = PREPARED,
    model: Model = "rf",
    start: FromFrame = 1,
    end: ToFrame = 6,
) -> list[str]:
    dataset = lifecycle.curate(table, algorithm=model, frames=_frames(start, end), name=CURATED)
    return _report(dataset.report)


@router.get("/repModelTrain", summary="Train on frames from..to of a table (synchronous, as the reference)")
def rep_model_train(
    lifecycle: LifecycleDep,
    table: str = CURATED,
    start: FromFrame = 1,
    end: ToFrame = 6,
    model: Model = "rf",
    weight: Annotated[float, Query(gt=0, le=1e6)] = 10,
) -> list[str]:
    trained = lifecycle.train(table, algorithm=model, frames=_frames(start, end), weight=weight,
                              name=_model_name(model))  # fmt: skip
    overall = trained.metrics.get("overall") or {}
    return _answer([{"model": trained.ref, "table": table, "from": start, "to": end, "weight": weight,
                     "roc_auc": overall.get("roc_auc"), "pr_auc": overall.get("pr_auc")}])  # fmt: skip


@router.get("/repModelReport", summary="KPIs of the newest model per frame not used for training")
def rep_model_report(lifecycle: LifecycleDep, model: Model = "rf") -> list[str]:
    report = lifecycle.report(_model_name(model))
    rows = [
        {"frame": f, **{k: v for k, v in kpis.items() if k != "confusion"}} for f, kpis in report["per_frame"].items()
    ]
    return _answer(rows)


@router.get("/repModelPersist", summary="Register the newest model and point an alias at it")
def rep_model_persist(lifecycle: LifecycleDep, model: Model = "rf", alias: str = "champion") -> list[str]:
    persisted = lifecycle.persist(_model_name(model), alias=alias)
    return _answer([{"model": persisted.ref, "alias": alias, "sha256": persisted.artifact_sha256}])


@router.get("/repNewDataScore", summary="Score frames from..to of a table with the champion; every score persisted")
def rep_new_data_score(
    scoring: ScoringDep,
    table: str = INGESTED,
    start: FromFrame = 7,
    end: ToFrame = 12,
    model: Model = "rf",
) -> list[str]:
    result = scoring.score(
        str(ModelRef.of(_model_name(model), alias="champion")), dataset=table, frames=_frames(start, end)
    )
    return _answer([{"batch_id": result.batch.id, "model": result.batch.model_ref, "rows": result.batch.rows,
                     "flagged": sum(result.records.decisions)}])  # fmt: skip


@router.get("/repNewDataLabel", summary="Import the truth of frames from..to of a table")
def rep_new_data_label(
    scoring: ScoringDep,
    table: str = INGESTED,
    start: FromFrame = 7,
    end: ToFrame = 12,
) -> list[str]:
    report = scoring.label(dataset=table, frames=_frames(start, end))
    return _answer([{"imported": report.imported, "positives": report.positives, "unknown": report.unknown}])


@router.get("/repNewDataReport", summary="Verify the truth against the persisted scores per frame")
def rep_new_data_report(
    scoring: ScoringDep,
    start: FromFrame = 7,
    end: ToFrame = 12,
    model: Model = "rf",
) -> list[str]:
    verification = scoring.verify(str(ModelRef.of(_model_name(model), alias="champion")), frames=_frames(start, end))
    return _answer([{k: v for k, v in row.items() if k != "confusion"} for row in verification.rows])
