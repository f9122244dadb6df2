"""Models: train (as a job), versions, report, aliases, lineage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response

from crispml import reports
from crispml.api import pictures
from crispml.api.deps import JobsDep, LifecycleDep, MonitoringDep
from crispml.api.jobs_http import job_response, job_responses
from crispml.api.pictures import PAGE_CONTENT
from crispml.api.problems import problem_responses
from crispml.contract import METHODS
from crispml.contract import requests as req
from crispml.contract.answers import LineageNodeAnswer, ModelAnswer, ModelVersionAnswer, Page, ReportAnswer
from crispml.contract.scoring import MonitoringAnswer
from crispml.domain.refs import ModelRef, check_name
from crispml.services.lifecycle import LifecycleService
from crispml.services.worker import train_job
from crispml.steps.algorithms import get_algorithm, params_doc, resolve_params

router = APIRouter(prefix="/api/v1/models", tags=["models"])
ModelName = Annotated[req.Name, Path(description="A model's name.")]
VersionNumber = Annotated[req.Version, Path()]
AliasName = Annotated[req.Alias, Path()]


@router.post("/{name}/versions", status_code=202, summary=METHODS["train"].summary,
             description=params_doc(), responses=job_responses(404, 422))  # fmt: skip
def train(
    name: ModelName,
    body: req.TrainBody,
    lifecycle: LifecycleDep,
    jobs: JobsDep,
    wait: Annotated[req.Wait, Query()] = False,
    timeout: Annotated[req.Timeout, Query()] = 300,
) -> Response:
    # Everything checkable is checked before a job exists: a bad request never becomes a failed job.
    check_name(name, "model name")
    resolve_params(get_algorithm(body.algorithm), body.params, body.weight, body.seed)
    lifecycle.get_dataset(body.dataset)
    params = {"name": name, **body.model_dump()}
    job = jobs.submit("train", params, lambda progress: train_job(lifecycle, params, progress))
    return job_response(jobs, job, wait, timeout)


@router.get("", summary=METHODS["models"].summary, responses=problem_responses(422))
def models(
    lifecycle: LifecycleDep,
    limit: Annotated[req.Limit, Query()] = 100,
    offset: Annotated[req.Offset, Query()] = 0,
) -> Page[ModelAnswer]:
    found = ModelAnswer.from_versions(lifecycle.list_models())
    return Page[ModelAnswer].of(found[offset : offset + limit], len(found), limit, offset)


@router.get("/{name}/versions", summary="Versions of a model, oldest first", responses=problem_responses(404, 422))
def versions(
    name: ModelName,
    lifecycle: LifecycleDep,
    limit: Annotated[req.Limit, Query()] = 100,
    offset: Annotated[req.Offset, Query()] = 0,
) -> Page[ModelVersionAnswer]:
    found = lifecycle.list_models(name)
    if not found:
        lifecycle.get_model(name)  # raises NotFound naming the model
    page = [ModelVersionAnswer.from_domain(v) for v in found[offset : offset + limit]]
    return Page[ModelVersionAnswer].of(page, len(found), limit, offset)


@router.get("/{name}/versions/{version}", summary="One model version", responses=problem_responses(404, 422))
def model(name: ModelName, version: VersionNumber, lifecycle: LifecycleDep) -> ModelVersionAnswer:
    return ModelVersionAnswer.from_domain(lifecycle.get_model(str(ModelRef.of(name, version=version))))


@router.get("/{name}/versions/{version}/report", summary=METHODS["report"].summary, response_model=ReportAnswer,
            responses={**PAGE_CONTENT, **problem_responses(404, 422)})  # fmt: skip
def report(
    name: ModelName,
    version: VersionNumber,
    lifecycle: LifecycleDep,
    frames: Annotated[req.Frames | None, Query()] = None,
    threshold: Annotated[req.Threshold | None, Query()] = None,
    format: Annotated[req.PageFormatField, Query()] = "json",
) -> Any:
    answer = _report(lifecycle, name, version, frames, threshold)
    return pictures.page(reports.report_page(answer.model_dump(mode="json"))) if format == "html" else answer


@router.get("/{name}/versions/{version}/report/plots/{plot}", response_class=Response,
            summary="A picture of ModelReport: ROC or PR curve, confusion matrix, KPIs by frame or importances",
            responses={**pictures.IMAGE_CONTENT, **problem_responses(404, 422)})  # fmt: skip
def report_plot(
    name: ModelName,
    version: VersionNumber,
    plot: Annotated[req.ReportPlot, Path(description="roc, pr, confusion, kpi-by-frame or importances.")],
    lifecycle: LifecycleDep,
    frames: Annotated[req.Frames | None, Query()] = None,
    threshold: Annotated[req.Threshold | None, Query()] = None,
    format: Annotated[req.ImageFormatField, Query()] = "svg",
) -> Response:
    answer = _report(lifecycle, name, version, frames, threshold).model_dump(mode="json")
    return pictures.image(reports.report_plot(answer, plot, format), format, f"{name}-{version}-{plot}")


def _report(
    lifecycle: LifecycleService, name: str, version: int, frames: str | None, threshold: float | None
) -> ReportAnswer:
    ref = str(ModelRef.of(name, version=version))
    return ReportAnswer.from_domain(lifecycle.report(ref, frames=frames, threshold=threshold))


@router.put("/{name}/aliases/{alias}", summary=METHODS["persist"].summary, responses=problem_responses(404, 422))
def persist(name: ModelName, alias: AliasName, body: req.PersistBody, lifecycle: LifecycleDep) -> ModelVersionAnswer:
    return ModelVersionAnswer.from_domain(lifecycle.persist(str(ModelRef.of(name, version=body.version)), alias=alias))


@router.get("/{name}/aliases/{alias}", summary="The version an alias points at", responses=problem_responses(404, 422))
def alias(name: ModelName, alias: AliasName, lifecycle: LifecycleDep) -> ModelVersionAnswer:
    return ModelVersionAnswer.from_domain(lifecycle.get_model(str(ModelRef.of(name, alias=alias))))


@router.delete("/{name}/aliases/{alias}", status_code=204, summary="Remove an alias",
               responses=problem_responses(404, 422))  # fmt: skip
def delete_alias(name: ModelName, alias: AliasName, lifecycle: LifecycleDep) -> Response:
    lifecycle.delete_alias(name, alias)
    return Response(status_code=204)


@router.get("/{name}/monitoring", summary=METHODS["monitor"].summary, responses=problem_responses(404, 422))
def monitor(
    name: ModelName,
    monitoring: MonitoringDep,
    version: Annotated[req.Version | None, Query()] = None,
    alias: Annotated[req.Alias | None, Query(description="Defaults to champion when no version is given.")] = None,
    frames: Annotated[req.Frames | None, Query()] = None,
    since: Annotated[req.Since | None, Query()] = None,
    dataset: Annotated[req.Ref | None, Query()] = None,
) -> MonitoringAnswer:
    """Per feature (and the score), per frame or hour and overall: PSI, Jensen-Shannon distance and
    missing-value rates against the version's training profile, with warning and alarm levels."""
    ref = str(ModelRef.of(name, version=version, alias=alias or (None if version else "champion")))
    found = monitoring.monitor(ref, frames=frames, since=since, dataset=dataset)
    return MonitoringAnswer.from_domain(found)


@router.get("/{name}/lineage", summary=METHODS["lineage"].summary, responses=problem_responses(404, 422))
def lineage(
    name: ModelName,
    lifecycle: LifecycleDep,
    version: Annotated[req.Version | None, Query()] = None,
    alias: Annotated[req.Alias | None, Query()] = None,
) -> Page[LineageNodeAnswer]:
    ref = str(ModelRef.of(name, version=version, alias=alias))
    nodes = [LineageNodeAnswer.from_domain(n) for n in lifecycle.lineage(ref)]
    return Page[LineageNodeAnswer].of(nodes, len(nodes))
