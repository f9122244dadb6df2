"""Request bodies of the REST API (pydantic v2); responses are the domain objects as JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, SkipValidation

from crispml.domain import SourceSpec

Version = Annotated[int, Path(ge=1, le=999_999_999, description="Model version number.")]
OptionalVersion = Annotated[int | None, Query(ge=1, le=999_999_999, description="Model version number.")]
# Bounded so a database never sees an integer it cannot hold (SQLite's are 64-bit).
Offset = Annotated[int, Query(ge=0, le=2**53, description="Items to skip.")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceIn(Strict):
    path: str | None = Field(None, description="A file inside the server's data folder (CSV, zip or Parquet).")
    url: str | None = Field(None, description="SQLAlchemy URL of a source database.")
    table: str | None = Field(None, description="Table to read from `url`, checked against its catalogue.")
    query: str | None = Field(None, description="Read-only query to run on `url`.")

    def spec(self) -> SourceSpec:
        return SourceSpec(path=self.path, url=self.url, table=self.table, query=self.query)


class IngestIn(Strict):
    source: SourceIn
    name: str | None = Field(None, max_length=64)
    slices: int = Field(12, ge=1, le=10_000)
    percent_data: float = Field(1.0, gt=0, le=1)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    target: str = Field("Class", min_length=1, max_length=128)
    key: str | None = Field(None, max_length=128)
    time_column: str | None = Field(None, max_length=128)


class PrepareIn(Strict):
    missing: str = Field("median", description="median, zero or drop")
    name: str | None = Field(None, max_length=64)


class CurateIn(Strict):
    algorithm: str = "rf"
    frames: str | None = Field(None, description="Frames the transform is fitted on, e.g. 1-6.")
    name: str | None = Field(None, max_length=64)


class TrainIn(Strict):
    dataset: str = Field(..., min_length=1, max_length=200)
    algorithm: str = "rf"
    frames: str = "1-6"
    weight: float = Field(1.0, gt=0, le=1e6)
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = Field(42, ge=0, le=2**32 - 1)
    threshold: float = Field(0.5, gt=0, lt=1)


class AliasIn(Strict):
    version: int = Field(..., ge=1, le=999_999_999)


class ScoreIn(Strict):
    # Documented as objects, checked by the scoring service (which names what it refuses): validating
    # 1,000 records here first copied every one of them, a sixth of such a request's time.
    records: SkipValidation[list[dict[str, Any]]] | None = None
    dataset: str | None = Field(None, max_length=200)
    frames: str | None = None


class LabelIn(Strict):
    record_id: str = Field(..., min_length=1, max_length=200)
    label: int = Field(..., ge=0, le=1)


class LabelsIn(Strict):
    labels: list[LabelIn] | None = None
    dataset: str | None = Field(None, max_length=200)
    frames: str | None = None
