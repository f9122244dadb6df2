"""Models: train (as a job), versions, report, aliases, lineage."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import JSONResponse

from crispml.api.deps import ContainerDep
from crispml.api.jobs_http import job_response
from crispml.api.schemas import AliasIn, OptionalVersion, TrainIn, Version
from crispml.domain import check_name
from crispml.jsonable import jsonable
from crispml.steps.algorithms import get_algorithm, resolve_params

router = APIRouter(prefix="/api/v1/models", tags=["models"])


@router.post("/{name}/versions", status_code=202, summary="ModelTraining (runs as a job)")
def train(
    name: str,
    body: TrainIn,
    container: ContainerDep,
    wait: bool = False,
    timeout: Annotated[float, Query(ge=0, le=3600)] = 300,
) -> JSONResponse:
    # Everything checkable is checked before a job exists: a bad request never becomes a failed job.
    check_name(name, "model name")
    resolve_params(get_algorithm(body.algorithm), body.params, body.weight, body.seed)
    container.lifecycle.get_dataset(body.dataset)
    options = body.model_dump()
    dataset = options.pop("dataset")

    def work(progress: Any) -> dict[str, Any]:
        return dict(jsonable(container.lifecycle.train(dataset, name=name, progress=progress, **options)))

    job = container.jobs.submit("train", {"name": name, **body.model_dump()}, work)
    return job_response(container, job, wait, timeout)


@router.get("", summary="Model names with their newest version and aliases")
def list_models(container: ContainerDep) -> list[dict[str, Any]]:
    newest: dict[str, Any] = {}
    aliases: dict[str, dict[str, int]] = {}
    for model in container.lifecycle.list_models():
        newest[model.name] = model
        for alias in model.aliases:
            aliases.setdefault(model.name, {})[alias] = model.version
    return [
        {"name": n, "latest_version": m.version, "algorithm": m.algorithm, "aliases": aliases.get(n, {})}
        for n, m in newest.items()
    ]


@router.get("/{name}/versions", summary="Versions of a model")
def list_versions(name: str, container: ContainerDep) -> list[Any]:
    versions = container.lifecycle.list_models(name)
    if not versions:
        container.lifecycle.get_model(name)  # raises NotFound naming the model
    return [_summary(v) for v in versions]


@router.get("/{name}/versions/{version}", summary="One model version")
def get_version(name: str, version: Version, container: ContainerDep) -> dict[str, Any]:
    return dict(jsonable(container.lifecycle.get_model(f"{name}/{version}")))


@router.get("/{name}/versions/{version}/report", summary="ModelReport")
def report(name: str, version: Version, container: ContainerDep, frames: str | None = None) -> dict[str, Any]:
    return dict(jsonable(container.lifecycle.report(f"{name}/{version}", frames=frames)))


@router.put("/{name}/aliases/{alias}", summary="ModelPersist: register a version and point an alias at it")
def set_alias(name: str, alias: str, body: AliasIn, container: ContainerDep) -> dict[str, Any]:
    return _summary(container.lifecycle.persist(f"{name}/{body.version}", alias=alias))


@router.get("/{name}/aliases/{alias}", summary="The version an alias points at")
def get_alias(name: str, alias: str, container: ContainerDep) -> dict[str, Any]:
    return _summary(container.lifecycle.get_model(f"{name}@{alias}"))


@router.delete("/{name}/aliases/{alias}", status_code=204, summary="Remove an alias")
def delete_alias(name: str, alias: str, container: ContainerDep) -> Response:
    container.lifecycle.delete_alias(name, alias)
    return Response(status_code=204)


@router.get("/{name}/lineage", summary="Lineage of a model version back to its raw source")
def lineage(name: str, container: ContainerDep, version: OptionalVersion = None, alias: str | None = None) -> list[Any]:
    ref = f"{name}/{version}" if version else f"{name}@{alias}" if alias else name
    return list(jsonable(container.lifecycle.lineage(ref)))


def _summary(model: Any) -> dict[str, Any]:
    body: dict[str, Any] = jsonable(model)
    metrics = body.pop("metrics", {}) or {}
    body["overall"] = metrics.get("overall")
    return body
