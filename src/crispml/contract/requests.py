"""Request models: every parameter of every method once, with its bounds and docs.

A method's request holds all of its parameters, wherever a transport puts them (REST path, query,
header or body; CLI arguments; client keyword arguments). Where REST sends part of them as a JSON body,
that part is its own model (`...Body`) and the request extends it, so each field is declared once.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SkipValidation, model_validator
from pydantic_core import PydanticCustomError

from crispml.domain import JobStatus, SourceSpec, Stage
from crispml.errors import InvalidInput

MAX_INT = 2**53  # bounded so a database never sees an integer it cannot hold (SQLite's are 64-bit)
MAX_WAIT_S = 3600.0

MAX_NAME = 64
Name = Annotated[
    str, Field(min_length=1, max_length=MAX_NAME, description="A name: a letter, then letters, digits, _ . -")
]
Ref = Annotated[str, Field(min_length=1, max_length=200, description="A reference: name, name/version or an id.")]
ModelRefText = Annotated[
    str, Field(min_length=1, max_length=200, description="fraud@champion, fraud/3, fraud or a model version id.")
]
Frames = Annotated[
    str, Field(min_length=1, max_length=200, description="Frames like '1-6', '7,9,11' or '1-3,8'.", examples=["1-6"])
]
Version = Annotated[int, Field(ge=1, le=999_999_999, description="Model version number.")]
Alias = Annotated[str, Field(min_length=1, max_length=64, description="An alias such as champion.")]
Algorithm = Annotated[str, Field(min_length=1, max_length=32, description="rf, hgb, lgbm or logreg.")]
IdempotencyKey = Annotated[
    str, Field(min_length=1, max_length=200, description="A retry with the same key returns the first answer.")
]
Limit = Annotated[int, Field(ge=1, le=1000, description="Items per page.")]
BatchLimit = Annotated[int, Field(ge=1, le=100_000, description="Scores per page.")]
PerfLimit = Annotated[int, Field(ge=1, le=10_000, description="Newest records returned.")]
Id = Annotated[str, Field(min_length=1, max_length=200, description="An id, as an answer gave it.")]
MethodName = Annotated[str, Field(min_length=1, max_length=32, description="Only this method's records.")]
Offset = Annotated[int, Field(ge=0, le=MAX_INT, description="Items to skip.")]


def _no_nul(text: str) -> str:
    # A NUL character names no file, table or column: refused here, it never reaches the OS or a database.
    if "\x00" in text:
        raise PydanticCustomError("nul_character", "holds a NUL character, which no file or table name can hold")
    return text


SourceText = Annotated[str, AfterValidator(_no_nul)]
Wait = Annotated[bool, Field(description="Block until the job ends (or `timeout` passes).")]
Timeout = Annotated[
    float,
    Field(
        ge=0,
        le=MAX_WAIT_S,
        description="Seconds to wait with wait=true. A server holds a wait at most CRISPML_MAX_WAIT_S "
        "(60 s by default), then answers 202 with the job as it stands: wait again on its Location.",
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobOptions(Strict):
    """Options of a method that runs as a durable job."""

    wait: Wait = False
    timeout: Timeout = 300.0


class SourceIn(Strict):
    """Where raw data comes from: a server file, or a registered source with a table, a query or a path.

    Database URLs are not accepted: an admin registers a database once (`crispml sources add NAME URL`)
    and requests name it.
    """

    path: SourceText | None = Field(
        None,
        max_length=4096,
        description="A file inside the server's data folder, or inside `source` if it holds files (CSV, zip, Parquet).",
    )
    source: Name | None = Field(None, description="A registered source (`GET /api/v1/sources`).")
    table: SourceText | None = Field(
        None, max_length=128, description="Table to read from `source`, checked against its catalogue."
    )
    query: SourceText | None = Field(
        None, max_length=100_000, description="One read-only SELECT to run on `source`, with a statement timeout."
    )

    pool: Ref | None = Field(
        None,
        description="A dataset of the shared data pool (name, name/version or name@version), read through the "
        "server's filter (CRISPML_POOL_FILTER) instead of a file or a registered source.",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and "url" in data:
            raise PydanticCustomError(
                "url_not_accepted",
                "database URLs are not accepted: an admin registers the database as a named source "
                "(crispml sources add NAME URL) and the request names it in `source`",
            )
        return data

    def spec(self) -> SourceSpec:
        return SourceSpec(path=self.path, source=self.source, table=self.table, query=self.query, pool=self.pool)


ColumnName = Annotated[str, Field(min_length=1, max_length=128, description="A column of a dataset.")]
ColumnTag = Literal["personal", "quasi-identifier", "sensitive"]


class IngestBody(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"source": {"path": "creditcard.csv"}, "name": "ccf", "slices": 12}]},
    )

    source: SourceIn
    name: Name | None = None
    slices: int = Field(12, ge=1, le=10_000, description="Time frames the rows are cut into.")
    percent_data: float = Field(1.0, gt=0, le=1, description="Share of the rows kept, in (0, 1].")
    seed: int = Field(42, ge=0, le=2**32 - 1, description="Seed of the sampling.")
    target: str = Field("Class", min_length=1, max_length=128, description="The label column.")
    key: str | None = Field(None, min_length=1, max_length=128, description="Column holding a record's id.")
    time_column: str | None = Field(None, min_length=1, max_length=128, description="Column the frames follow.")
    project: Name | None = Field(
        None, description="The project the dataset belongs to (default: the key's only project, else 'default')."
    )
    tags: dict[ColumnName, ColumnTag] | None = Field(
        None, max_length=10_000, description="Column tags: personal, quasi-identifier or sensitive.",
        examples=[{"V1": "quasi-identifier"}],
    )  # fmt: skip


class IngestRequest(IngestBody, JobOptions):
    pass


class PrepareBody(Strict):
    missing: str = Field("median", pattern="^(median|zero|drop)$", description="median, zero or drop")
    name: Name | None = None


class PrepareRequest(PrepareBody):
    dataset: Ref


class CurateBody(Strict):
    algorithm: Algorithm = "rf"
    frames: Frames | None = Field(None, description="Frames the transform is fitted on (default: the first half).")
    name: Name | None = None


class CurateRequest(CurateBody):
    dataset: Ref


class TrainBody(Strict):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"dataset": "ccf", "algorithm": "rf", "frames": "1-6", "weight": 10}]},
    )

    dataset: Ref
    algorithm: Algorithm = "rf"
    frames: Frames = "1-6"
    weight: float = Field(1.0, gt=0, le=1e6, description="Weight of the positive class.")
    params: dict[str, Any] = Field(default_factory=dict, description="Hyper-parameters of the algorithm.")
    seed: int = Field(42, ge=0, le=2**32 - 1)
    threshold: float = Field(0.5, gt=0, lt=1, description="Score at or above which a record is flagged.")


class TrainRequest(TrainBody, JobOptions):
    name: Name


ReportPlot = Literal["roc", "pr", "confusion", "kpi-by-frame", "importances"]
"""The pictures of a model report."""
VerificationPlot = Literal["kpi-by-frame", "labelled"]
"""The pictures of a verification."""
ImageFormat = Literal["svg", "png"]
PageFormat = Literal["json", "html"]
Threshold = Annotated[
    float,
    Field(gt=0, lt=1, description="Score at or above which a record counts as flagged in the confusion matrix, "
          "precision, recall and F1 (default: the model's threshold)."),
]  # fmt: skip
PageFormatField = Annotated[
    PageFormat,
    Field(description="json (the answer) or html (a self-contained page with its pictures, which opens offline)."),
]
ImageFormatField = Annotated[ImageFormat, Field(description="svg (text, small) or png (for slides).")]


class ReportRequest(Strict):
    name: Name
    version: Version
    frames: Frames | None = Field(None, description="Frames to evaluate on (default: those not trained on).")
    threshold: Threshold | None = None
    format: PageFormatField = "json"


class ReportPlotRequest(ReportRequest):
    """A picture of a model report (not a method of its own: the report, drawn)."""

    plot: ReportPlot
    format: ImageFormatField = "svg"  # type: ignore[assignment]


class PersistBody(Strict):
    version: Version


class PersistRequest(PersistBody):
    name: Name
    alias: Alias


class DataframeSplit(Strict):
    """Records as pandas' `to_dict(orient="split")` writes them (MLflow's `dataframe_split`)."""

    columns: list[str] = Field(min_length=1, max_length=10_000, description="Column names, in order.")
    data: SkipValidation[list[list[Any]]] = Field(description="Rows, each a list of values in column order.")

    def records(self) -> list[dict[str, Any]]:
        """The rows as records (column name to value); a row of another length is refused."""
        width = len(self.columns)
        if len(set(self.columns)) != width:
            twice = next(c for i, c in enumerate(self.columns) if c in self.columns[:i])
            raise InvalidInput(f"dataframe_split.columns names {twice!r} more than once", field="columns")
        if not isinstance(self.data, list) or not self.data:
            raise InvalidInput("dataframe_split.data holds no rows: there are no records to score", field="data")
        for i, row in enumerate(self.data):
            if not isinstance(row, list) or len(row) != width:
                raise InvalidInput(
                    f"dataframe_split.data row {i} is not a list of {width} values (one per column)", field="data"
                )
        return [dict(zip(self.columns, row, strict=True)) for row in self.data]


class ScoreBody(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"records": [{"Time": 0.0, "V1": -1.36, "Amount": 149.62}]}]}
    )

    # Documented as objects, checked by the scoring service (which names what it refuses): validating
    # 1,000 records here first copied every one of them, a sixth of such a request's time.
    records: SkipValidation[list[dict[str, Any]]] | None = Field(
        None, description="Records to score at once (feature columns; an optional record_id)."
    )
    dataframe_split: DataframeSplit | None = Field(
        None, description="Records as columns and rows, scored at once like `records`."
    )
    dataset: Ref | None = Field(None, description="A dataset whose frames are scored as a job.")
    frames: Frames | None = None


class ScoreRequest(ScoreBody, JobOptions):
    name: Name
    version: Version | None = None
    alias: Alias | None = Field(None, description="Defaults to champion when no version is given.")
    idempotency_key: IdempotencyKey | None = None


class LabelIn(Strict):
    record_id: str = Field(..., min_length=1, max_length=200)
    label: int = Field(..., ge=0, le=1)


class LabelRequest(Strict):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"labels": [{"record_id": "r-9f2c", "label": 1}]}]}
    )

    labels: list[LabelIn] | None = Field(None, max_length=1_000_000, description="Ground truth by record id.")
    dataset: Ref | None = Field(None, description="A dataset whose target column is imported as labels.")
    frames: Frames | None = None


Compare = Annotated[
    str,
    Field(min_length=3, max_length=130, pattern=r"^[^,]+,[^,]+$", examples=["champion,challenger"],
          description="Two aliases or versions of the model's name to compare on the same labelled records "
          "with DeLong's paired test, e.g. champion,challenger or 3,5."),
]  # fmt: skip
Significance = Annotated[float, Field(gt=0, lt=1, description="The significance level of the paired test.")]


class VerifiedFrames(Strict):
    """What a verification and its pictures select: a model reference and frames."""

    model: ModelRefText
    frames: Frames | None = None
    format: PageFormatField = "json"


Since = Annotated[
    str,
    Field(min_length=1, max_length=64, description="Records scored since: a duration back from now "
          "(24h, 30m, 7d; s, m, h, d or w) or an ISO 8601 time.", examples=["24h"]),
]  # fmt: skip
Coverage = Annotated[float, Field(ge=0.5, lt=1, description="Coverage of each estimate's interval.")]


class EstimateRequest(Strict):
    model: ModelRefText
    frames: Frames | None = None
    since: Since | None = None
    level: Coverage = 0.99


class VerifyRequest(VerifiedFrames):
    compare: Compare | None = None
    level: Significance = 0.05


class VerifyPlotRequest(VerifiedFrames):
    """A picture of a verification (not a method of its own: the verification, drawn)."""

    plot: VerificationPlot
    format: ImageFormatField = "svg"  # type: ignore[assignment]


class MonitorRequest(Strict):
    name: Name
    version: Version | None = None
    alias: Alias | None = Field(None, description="Defaults to champion when no version is given.")
    frames: Frames | None = Field(
        None, description="Frames of the dataset to compare (default: the training dataset's frames not trained on)."
    )
    since: Since | None = None
    dataset: Ref | None = Field(None, description="A dataset scored by the model (default: its training dataset).")


class LineageRequest(Strict):
    name: Name
    version: Version | None = None
    alias: Alias | None = None


class BatchRequest(Strict):
    batch_id: Id
    limit: BatchLimit = 1000
    offset: Offset = 0


class DatasetsRequest(Strict):
    stage: Stage | None = None
    name: Name | None = None
    limit: Limit = 100
    offset: Offset = 0


class ModelsRequest(Strict):
    limit: Limit = 100
    offset: Offset = 0


class PerfRequest(Strict):
    method: MethodName | None = None
    limit: PerfLimit = 1000


class JobsRequest(Strict):
    status: JobStatus | None = None
    limit: Limit = 100
    offset: Offset = 0


class JobRequest(JobOptions):
    job_id: Id


class SourceAddBody(Strict):
    """A data source to register: a database URL whose password is a reference, or an absolute folder."""

    name: Name
    url: SourceText = Field(
        min_length=1,
        max_length=4096,
        description="sqlite:////path/file.db, postgresql+psycopg://user:${ENV_VAR}@host/db (or user:@file:/path@host), "
        "or an absolute folder. Never echoed back.",
    )
