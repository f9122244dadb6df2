"""A pipeline file: one declared cycle (ingest or a pool dataset, prepare, curate, train, report,
gates, persist, and optionally score, label, verify), validated before anything runs.

The models are the contract; `schemas/pipeline.schema.json` is their JSON schema (published at
`GET /api/v1/pipelines/schema`). Every model forbids unknown keys, so a misspelt key is one error
naming its path (`train.wieght`).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crispml.errors import InvalidInput

Frames = Annotated[str, Field(min_length=1, max_length=200, description="Frames: '1-6', '7,9' or '1-3,8'.")]
Name = Annotated[str, Field(min_length=1, max_length=64, description="A dataset or model name.")]
Algorithm = Annotated[str, Field(min_length=1, max_length=32, description="rf, hgb, lgbm or logreg.")]

STEPS = ("ingest", "prepare", "curate", "train", "report", "gates", "persist", "score", "label", "verify")
"""The steps of a pipeline in the order they run (a pipeline with `dataset` starts at prepare)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Source(_Strict):
    """Where the rows come from: a file (relative paths are read in the data folder, CRISPML_DATA_DIR),
    or a registered source's table, query or file."""

    path: str | None = None
    source: str | None = Field(default=None, description="A registered source (`crispml sources list`).")
    table: str | None = None
    query: str | None = None
    pool: str | None = Field(
        default=None,
        description="A dataset of the shared data pool (name, name/version, name@version), read through this "
        "environment's filter (CRISPML_POOL_FILTER) instead of a file or a registered source.",
    )


class Ingest(_Strict):
    source: Source
    synthetic_rows: int | None = Field(
        None, ge=100, description="Write the synthetic credit-card twin of this many rows to `source.path` if missing."
    )
    name: Name | None = None
    slices: int = Field(12, ge=1, le=1000)
    percent_data: float = Field(1.0, gt=0, le=1)
    seed: int = 42
    target: str = "Class"
    key: str | None = None
    time_column: str | None = None
    project: Name | None = None


class Prepare(_Strict):
    missing: Literal["median", "drop", "zero"] = "median"
    name: Name | None = None


class Curate(_Strict):
    algorithm: Algorithm = "rf"
    frames: Frames | None = Field(default=None, description="Frames the transforms fit on (default: first half).")
    name: Name | None = None


class Train(_Strict):
    name: Name
    algorithm: Algorithm = "rf"
    frames: Frames = "1-6"
    weight: float = Field(1.0, gt=0, description="Weight of the positive class.")
    params: dict[str, Any] = Field(default_factory=dict, description="Hyper-parameters of the algorithm.")
    seed: int = 42
    threshold: float = Field(0.5, gt=0, lt=1)


class Report(_Strict):
    frames: Frames | None = Field(default=None, description="Frames of the KPIs (default: those not trained on).")
    threshold: float | None = Field(default=None, gt=0, lt=1)


class Gate(_Strict):
    """A condition on the report's overall KPIs; the pipeline stops before persist when one fails."""

    kpi: Literal["roc_auc", "pr_auc", "precision", "recall", "f1", "positives", "rows"] = Field(
        description="A KPI of the report's overall figures (on the report's frames)."
    )
    op: Literal[">=", ">", "<=", "<"] = ">="
    value: float

    @property
    def text(self) -> str:
        return f"{self.kpi} {self.op} {self.value:g}"


class Persist(_Strict):
    alias: Name = "champion"


class Score(_Strict):
    frames: Frames | None = None


class Label(_Strict):
    frames: Frames | None = None


class Verify(_Strict):
    frames: Frames | None = None


class Pipeline(_Strict):
    """One cycle, run as one durable job: each step is the service call of the same name."""

    model_config = ConfigDict(extra="forbid", title="crispml pipeline")

    version: Literal[1] = 1
    name: Name = Field(description="What the pipeline is called (its jobs show it).")
    description: str | None = None
    ingest: Ingest | None = None
    dataset: str | None = Field(default=None, description="A raw dataset of the pool to start from (not `ingest`).")
    prepare: Prepare = Field(default_factory=Prepare)
    curate: Curate = Field(default_factory=Curate)
    train: Train
    report: Report = Field(default_factory=Report)
    gates: list[Gate] = Field(default_factory=list)
    persist: Persist = Field(default_factory=Persist)
    score: Score | None = None
    label: Label | None = None
    verify: Verify | None = None

    @model_validator(mode="after")
    def _one_start(self) -> Pipeline:
        if (self.ingest is None) == (self.dataset is None):
            raise ValueError("start from exactly one of: ingest (a source) or dataset (a pool dataset)")
        return self

    def steps(self) -> list[str]:
        """The steps this pipeline runs, in order."""
        present = {"ingest": self.ingest, "score": self.score, "label": self.label, "verify": self.verify}
        return [s for s in STEPS if present.get(s, True) is not None and (s != "gates" or self.gates)]


def validate_pipeline(data: Any) -> Pipeline:
    """A pipeline from its parsed mapping; InvalidInput naming the first bad key's path (`train.wieght`)."""
    if not isinstance(data, dict):
        raise InvalidInput("a pipeline file is a mapping of steps (name, ingest, train...)", field="pipeline")
    try:
        return Pipeline.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        path = ".".join(str(part) for part in first["loc"]) or "pipeline"
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(f"pipeline {path}: {message}{more}", field=path) from None


def pipeline_schema() -> dict[str, Any]:
    """The JSON schema of a pipeline file (as checked in at schemas/pipeline.schema.json)."""
    schema = Pipeline.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "crispml/pipeline.schema.json", **schema}


def schema_text() -> str:
    return json.dumps(pipeline_schema(), indent=2, sort_keys=True) + "\n"
