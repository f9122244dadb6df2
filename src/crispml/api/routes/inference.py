"""Inference protocols other servers speak, so their clients work unchanged; scores persist here too.

- Open Inference Protocol v2 (KServe, MLServer, Triton): `/v2`, `/v2/health/*`,
  `/v2/models/{name}[/versions/{v}]`, `.../infer` with one tensor per input column, or one 2-D tensor of
  rows in the model's column order. Its failures answer `{"error": "..."}` (see `api/problems.py`).
- MLflow's scoring server: `GET /ping`, `/health`, `/version`, and `POST /invocations` with
  `dataframe_split`, `dataframe_records`, `inputs` or `instances` JSON, or a CSV table, answered by the
  champion of the model named in the `CRISPML_MLFLOW_MODEL` setting (default `fraud`).
"""

from __future__ import annotations

import io
from typing import Annotated, Any

import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

import crispml
from crispml.api.deps import LifecycleDep, ScoringDep, ServicesDep, SettingsDep
from crispml.api.fast_json import OrjsonRoute
from crispml.api.problems import oip_error_responses, problem_responses
from crispml.contract import requests as req
from crispml.domain import RECORD_ID, ModelVersion
from crispml.domain.refs import ModelRef
from crispml.errors import InvalidInput, NotFound
from crispml.services.lifecycle import LifecycleService
from crispml.steps.pipeline import input_columns

router = APIRouter(tags=["inference protocols"], route_class=OrjsonRoute)
OIP_ERRORS = oip_error_responses(404, 413, 422)


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


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class ModelReady(BaseModel):
    name: str
    ready: bool
    version: str


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str
    id: str
    parameters: dict[str, Any]
    outputs: list[Tensor]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class Predictions(BaseModel):
    predictions: list[int] = Field(description="The decision per row at the model's threshold (predict()).")
    scores: list[float] = Field(description="P(class 1) per row.")
    batch_id: str
    imputed: list[str] = Field(
        default_factory=list, description="Input columns whose nulls the model's missing-value policy filled."
    )


# Inference answers are sent as built (from the ledger's values): declared by their model, not validated again.
INFER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": InferenceResponse, "description": "Scores, decisions and record ids"},
    **OIP_ERRORS,
}

_OUTPUTS = [
    TensorMetadata(name="score", datatype="FP64", shape=[-1]),
    TensorMetadata(name="decision", datatype="INT64", shape=[-1]),
    TensorMetadata(name="record_id", datatype="BYTES", shape=[-1]),
]


def _model(lifecycle: LifecycleService, name: str, version: int | None) -> ModelVersion:
    return lifecycle.get_model(str(ModelRef.of(name, version=version, alias=None if version else "champion")))


def _input_columns(model: ModelVersion) -> list[str]:
    return input_columns(model.pipeline, list(model.features))


@router.get("/v2", summary="OIP v2: server metadata")
def server_metadata() -> ServerMetadata:
    return ServerMetadata(name="crispml", version=crispml.__version__, extensions=[])


@router.get("/v2/health/live", summary="OIP v2: liveness")
def live() -> Live:
    return Live(live=True)


@router.get("/v2/health/ready", summary="OIP v2: readiness", responses={503: {"model": Ready}})
def ready(services: ServicesDep, response: Response) -> Ready:
    ok = all(check["ok"] for check in services.operations.readiness().values())
    response.status_code = 200 if ok else 503
    return Ready(ready=ok)


@router.get("/v2/models/{name}", summary="OIP v2: model metadata (the champion)", responses=OIP_ERRORS)
@router.get("/v2/models/{name}/versions/{version}", summary="OIP v2: model metadata", responses=OIP_ERRORS,
            operation_id="metadata_version")  # fmt: skip
def metadata(name: str, lifecycle: LifecycleDep, version: int | None = None) -> ModelMetadata:
    model = _model(lifecycle, name, version)
    return ModelMetadata(
        name=name,
        versions=[str(v.version) for v in lifecycle.list_models(name)],
        platform=f"crispml-{model.algorithm}",
        inputs=[TensorMetadata(name=c, datatype="FP64", shape=[-1]) for c in _input_columns(model)],
        outputs=_OUTPUTS,
    )


@router.get("/v2/models/{name}/ready", summary="OIP v2: model readiness", responses=OIP_ERRORS)
@router.get("/v2/models/{name}/versions/{version}/ready", summary="OIP v2: model readiness", responses=OIP_ERRORS,
            operation_id="model_ready_version")  # fmt: skip
def model_ready(name: str, lifecycle: LifecycleDep, version: int | None = None) -> ModelReady:
    model = _model(lifecycle, name, version)
    return ModelReady(name=name, ready=True, version=str(model.version))


@router.post("/v2/models/{name}/infer", summary="OIP v2: inference with the champion; scores are persisted",
             response_model=None, responses=INFER_RESPONSES)  # fmt: skip
@router.post("/v2/models/{name}/versions/{version}/infer", summary="OIP v2: inference; scores are persisted",
             response_model=None, responses=INFER_RESPONSES, operation_id="infer_version")  # fmt: skip
def infer(
    name: str,
    body: InferenceRequest,
    lifecycle: LifecycleDep,
    scoring: ScoringDep,
    version: int | None = None,
    idempotency_key: Annotated[req.IdempotencyKey | None, Header()] = None,
) -> dict[str, Any]:
    model = _model(lifecycle, name, version)
    records = _tensors_to_frame(body.inputs, _input_columns(model))
    result = scoring.score(model.id, records=records, idempotency_key=idempotency_key)
    scored = result.records
    rows = len(scored)
    return {
        "model_name": name,
        "model_version": str(model.version),
        "id": body.id or result.batch.id,
        "parameters": {"batch_id": result.batch.id, "imputed": list(result.imputed)},
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
    lengths = {len(t.data) for t in tensors if t.name in columns or t.name == RECORD_ID}
    if len(lengths) != 1 or 0 in lengths:
        raise InvalidInput("input tensors must all hold the same, non-zero number of values", field="inputs")
    extra = {t.name: t.data for t in tensors if t.name == RECORD_ID}
    return pd.DataFrame({**extra, **{c: by_name[c].data for c in columns}})


# -- MLflow's scoring server ---------------------------------------------------------------------


def _champion(lifecycle: LifecycleService, name: str) -> ModelVersion:
    try:
        return lifecycle.get_model(str(ModelRef.of(name, alias="champion")))
    except NotFound:
        raise NotFound(
            f"no champion of model {name!r} to answer MLflow's protocol (set CRISPML_MLFLOW_MODEL)"
        ) from None


TEXT: dict[int | str, dict[str, Any]] = {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}


@router.get("/ping", summary="MLflow: the model is there to answer", response_class=PlainTextResponse,
            responses={**TEXT, **problem_responses(404)})  # fmt: skip
def ping(lifecycle: LifecycleDep, settings: SettingsDep) -> PlainTextResponse:
    _champion(lifecycle, settings.mlflow_model)
    return PlainTextResponse("\n")


@router.get("/health", summary="MLflow: the model is there to answer", response_class=PlainTextResponse,
            responses={**TEXT, **problem_responses(404)})  # fmt: skip
def health(lifecycle: LifecycleDep, settings: SettingsDep) -> PlainTextResponse:
    return ping(lifecycle, settings)


@router.get("/version", summary="MLflow: the server's version", response_class=PlainTextResponse, responses=TEXT)
def version() -> PlainTextResponse:
    return PlainTextResponse(crispml.__version__)


_INVOCATIONS_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {"type": "object", "description": "dataframe_split, dataframe_records, inputs or instances"},
            "example": {"dataframe_split": {"columns": ["V1", "Amount"], "data": [[0.1, 12.5]]}},
        },
        "text/csv": {"schema": {"type": "string", "description": "A CSV table with a header row."}},
    },
}


@router.post("/invocations", summary="MLflow scoring protocol, answered by the champion; scores are persisted",
             openapi_extra={"requestBody": _INVOCATIONS_BODY},
             responses={200: {"model": Predictions}, **problem_responses(404, 409, 413, 422)})  # fmt: skip
async def invocations(
    request: Request,
    services: ServicesDep,
    idempotency_key: Annotated[req.IdempotencyKey | None, Header()] = None,
) -> Any:
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    raw = await request.body()
    name = services.settings.mlflow_model

    def answer() -> dict[str, Any]:
        model = _champion(services.lifecycle, name)
        records = _mlflow_frame(content_type, raw, _input_columns(model))
        result = services.scoring.score(model.id, records=records, idempotency_key=idempotency_key)
        # MLflow's sklearn flavour answers predict(): the class, here the decision at the model's threshold.
        return {"predictions": result.records.decisions, "scores": result.records.scores,
                "batch_id": result.batch.id, "imputed": list(result.imputed)}  # fmt: skip

    return await services.blocking(answer)


def _mlflow_frame(content_type: str, raw: bytes, columns: list[str]) -> pd.DataFrame:
    if content_type == "text/csv":
        try:
            return pd.read_csv(io.BytesIO(raw), dtype={RECORD_ID: str})
        except (ValueError, pd.errors.ParserError) as exc:
            raise InvalidInput(f"cannot read the CSV body: {exc}", field="body") from exc
    if content_type != "application/json":
        raise InvalidInput(f"send application/json or text/csv, not {content_type!r}", field="content-type")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"the body is not JSON: {exc}", field="body") from None
    if not isinstance(body, dict):
        raise InvalidInput("send a JSON object: dataframe_split, dataframe_records, inputs or instances", field="body")
    return _json_frame(body, columns)


def _json_frame(body: dict[str, Any], columns: list[str]) -> pd.DataFrame:
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
    except (KeyError, TypeError, ValueError, AssertionError, AttributeError) as exc:
        raise InvalidInput(f"cannot read the request as a table: {exc}", field="body") from exc
    raise InvalidInput("send dataframe_split, dataframe_records, inputs or instances", field="body")
