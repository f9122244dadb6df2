"""Inference protocols other servers speak, so their clients work unchanged; scores persist here too.

- Open Inference Protocol v2 (KServe, MLServer, Triton): `/v2/health/*`, `/v2/models/{name}[/versions/{v}]`,
  `.../infer` with one tensor per input column, or one 2-D tensor of rows in the model's column order.
- MLflow's scoring server: `POST /invocations` with `dataframe_split`, `dataframe_records` or `inputs`,
  answered by the champion of the model named in the `CRISPML_MLFLOW_MODEL` setting (default `fraud`).
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import APIRouter, Body, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from crispml.api.deps import ContainerDep
from crispml.api.fast_json import OrjsonRoute
from crispml.container import Container
from crispml.domain import ModelVersion
from crispml.errors import InvalidInput, NotFound
from crispml.steps.pipeline import input_columns

router = APIRouter(tags=["inference protocols"], route_class=OrjsonRoute)


class Tensor(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(..., max_length=200)
    shape: list[int] = Field(..., max_length=8)
    datatype: str = Field(..., max_length=16)
    data: list[Any]


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str | None = Field(None, max_length=200)
    inputs: list[Tensor] = Field(..., min_length=1, max_length=10_000)


def _model(container: Container, name: str, version: int | None) -> ModelVersion:
    return container.lifecycle.get_model(f"{name}/{version}" if version else f"{name}@champion")


def _input_columns(model: ModelVersion) -> list[str]:
    return input_columns(model.pipeline, list(model.features))


@router.get("/v2/health/live", summary="OIP v2: liveness")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", summary="OIP v2: readiness")
def ready(container: ContainerDep, response: Response) -> dict[str, bool]:
    ok = all(check["ok"] for check in container.operations.readiness().values())
    response.status_code = 200 if ok else 503
    return {"ready": ok}


@router.get("/v2/models/{name}", summary="OIP v2: model metadata (the champion)")
@router.get("/v2/models/{name}/versions/{version}", summary="OIP v2: model metadata")
def metadata(name: str, container: ContainerDep, version: int | None = None) -> dict[str, Any]:
    model = _model(container, name, version)
    versions = [str(v.version) for v in container.lifecycle.list_models(name)]
    return {
        "name": name,
        "versions": versions,
        "platform": f"crispml-{model.algorithm}",
        "inputs": [{"name": c, "datatype": "FP64", "shape": [-1]} for c in _input_columns(model)],
        "outputs": [
            {"name": "score", "datatype": "FP64", "shape": [-1]},
            {"name": "decision", "datatype": "INT64", "shape": [-1]},
            {"name": "record_id", "datatype": "BYTES", "shape": [-1]},
        ],
    }


@router.get("/v2/models/{name}/ready", summary="OIP v2: model readiness")
@router.get("/v2/models/{name}/versions/{version}/ready", summary="OIP v2: model readiness")
def model_ready(name: str, container: ContainerDep, version: int | None = None) -> dict[str, Any]:
    model = _model(container, name, version)
    return {"name": name, "ready": True, "version": str(model.version)}


@router.post("/v2/models/{name}/infer", summary="OIP v2: inference with the champion; scores are persisted")
@router.post("/v2/models/{name}/versions/{version}/infer", summary="OIP v2: inference; scores are persisted")
def infer(
    name: str,
    body: InferenceRequest,
    container: ContainerDep,
    version: int | None = None,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    model = _model(container, name, version)
    records = _tensors_to_frame(body.inputs, _input_columns(model))
    result = container.scoring.score(model.id, records=records, idempotency_key=idempotency_key)
    scored = result.records
    rows = len(scored)
    return {
        "model_name": name,
        "model_version": str(model.version),
        "id": body.id or result.batch.id,
        "parameters": {"batch_id": result.batch.id},
        "outputs": [
            {"name": "score", "datatype": "FP64", "shape": [rows], "data": scored.scores},
            {"name": "decision", "datatype": "INT64", "shape": [rows], "data": scored.decisions},
            {"name": "record_id", "datatype": "BYTES", "shape": [rows], "data": scored.record_ids},
        ],
    }


def _tensors_to_frame(tensors: list[Tensor], columns: list[str]) -> pd.DataFrame:
    if len(tensors) == 1 and len(tensors[0].shape) == 2:
        tensor = tensors[0]
        rows, width = tensor.shape
        if width != len(columns) or rows * width != len(tensor.data) or rows < 1:
            raise InvalidInput(
                f"tensor {tensor.name!r} must have shape [rows, {len(columns)}] with rows*{len(columns)} values "
                f"in the order {', '.join(columns)}",
                field="inputs",
            )
        return pd.DataFrame(np.asarray(tensor.data, dtype=object).reshape(rows, width), columns=columns)
    by_name = {t.name: t for t in tensors}
    missing = [c for c in columns if c not in by_name]
    if missing:
        raise InvalidInput(f"inputs lack tensor {missing[0]!r} (needed: {', '.join(columns)})", field=missing[0])
    lengths = {len(by_name[c].data) for c in columns}
    if len(lengths) != 1 or 0 in lengths:
        raise InvalidInput("input tensors must all hold the same, non-zero number of values", field="inputs")
    extra = {t.name: t.data for t in tensors if t.name not in columns and t.name == "record_id"}
    return pd.DataFrame({**extra, **{c: by_name[c].data for c in columns}})


@router.post("/invocations", summary="MLflow scoring protocol, answered by the champion; scores are persisted")
def invocations(
    container: ContainerDep,
    body: Annotated[dict[str, Any], Body(...)],
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    name = container.settings.mlflow_model
    try:
        model = container.lifecycle.get_model(f"{name}@champion")
    except NotFound:
        raise NotFound(f"no champion of model {name!r} to answer /invocations (set CRISPML_MLFLOW_MODEL)") from None
    records = _mlflow_frame(body, _input_columns(model))
    result = container.scoring.score(model.id, records=records, idempotency_key=idempotency_key)
    # MLflow's sklearn flavour answers predict(): the class, here the decision at the model's threshold.
    return {"predictions": result.records.decisions, "scores": result.records.scores,
            "batch_id": result.batch.id}  # fmt: skip


def _mlflow_frame(body: dict[str, Any], columns: list[str]) -> pd.DataFrame:
    try:
        if "dataframe_split" in body:
            split = body["dataframe_split"]
            return pd.DataFrame(split["data"], columns=split.get("columns") or columns)
        if "dataframe_records" in body:
            return pd.DataFrame.from_records(body["dataframe_records"])
        if "inputs" in body or "instances" in body:
            inputs = body.get("inputs", body.get("instances"))
            if isinstance(inputs, dict):
                return pd.DataFrame(inputs)
            return (
                pd.DataFrame(inputs, columns=columns)
                if inputs and isinstance(inputs[0], list)
                else pd.DataFrame(inputs)
            )
    except (KeyError, TypeError, ValueError, AssertionError) as exc:
        raise InvalidInput(f"cannot read the request as a table: {exc}", field="body") from exc
    raise InvalidInput("send dataframe_split, dataframe_records, inputs or instances", field="body")
