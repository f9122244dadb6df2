"""Answer models: one JSON shape per resource, built from the services' domain objects.

REST, the CLI's `--json` (local and remote) and the Python client all answer with these shapes. Each
model's `from_domain` takes the domain object; the score batch also has `dump`, a plain-dict builder
for the hot scoring path, which answers without pydantic (its keys are the model's, a test holds them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Protocol, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from crispml.domain import (
    ApiUser,
    AuditEvent,
    Dataset,
    DataSource,
    Job,
    JobStatus,
    LineageNode,
    ModelVersion,
    Outcome,
    PerfRecord,
    ScoreBatch,
    ScoredRecords,
    SourceKind,
    SourceTable,
    Stage,
)

T = TypeVar("T")


def iso_time(moment: datetime) -> str:
    """A timestamp as ISO 8601 with its offset. crispml stamps everything in UTC; a store that drops the
    zone (SQLite) hands back a naive value, which is that same UTC time."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


# Written by iso_time everywhere ("+00:00", where pydantic would write "Z"), whichever store it came from.
Timestamp = Annotated[datetime, PlainSerializer(iso_time, return_type=str, when_used="json")]


class Answer(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def _fields(value: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, values as they are (pydantic turns them into JSON)."""
    return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}


class Page(Answer, Generic[T]):
    """The envelope of every list: a page of items, how many there are, and the next page's offset."""

    items: list[T]
    total: int | None = Field(description="Items in the whole list; null where they are not counted.")
    limit: int | None = Field(None, description="Page size asked for.")
    offset: int = Field(0, description="Items skipped before this page.")
    next: int | None = Field(None, description="Offset of the next page; null on the last one.")

    @classmethod
    def of(cls, items: Sequence[Any], total: int, limit: int | None = None, offset: int = 0) -> Self:
        """A page of `items`, skipping `offset` of `total`."""
        after = offset + len(items)
        return cls(items=list(items), total=total, limit=limit, offset=offset, next=after if after < total else None)


class LineageNodeAnswer(Answer):
    kind: str = Field(examples=["dataset"])
    id: str
    label: str
    detail: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_domain(cls, node: LineageNode) -> Self:
        return cls(**_fields(node))


class SourceAnswer(Answer):
    """A registered data source: its name and kind. Its location and password are never answered."""

    name: str = Field(examples=["warehouse"])
    kind: SourceKind
    created_by: str
    created_at: Timestamp

    @classmethod
    def from_domain(cls, source: DataSource) -> Self:
        return cls(name=source.name, kind=source.kind, created_by=source.created_by, created_at=source.created_at)


class SourceColumnAnswer(Answer):
    name: str
    type: str = Field(examples=["DOUBLE PRECISION"])


class SourceTableAnswer(Answer):
    """A table of a database source, with its columns and row count."""

    name: str = Field(examples=["transactions"])
    columns: list[SourceColumnAnswer]
    rows: int

    @classmethod
    def from_domain(cls, table: SourceTable) -> Self:
        columns = [SourceColumnAnswer(name=c.name, type=c.type) for c in table.columns]
        return cls(name=table.name, columns=columns, rows=table.rows)


class DatasetAnswer(Answer):
    """A dataset version."""

    id: str = Field(examples=["ds-3f2a9c1e"])
    name: str = Field(examples=["ccf"])
    version: int
    stage: Stage
    sha256: str
    rows: int
    frames: int
    target: str
    columns: dict[str, str] = Field(description="Column name to dtype.")
    params: dict[str, Any]
    report: dict[str, Any]
    source: str
    source_sha256: str | None
    parent_id: str | None
    created_by: str
    created_at: Timestamp
    tags: dict[str, str] = Field(default_factory=dict, description="Column to personal, quasi-identifier or sensitive.")
    removed: str | None = Field(None, description="erased or expired once the version's rows were deleted.")
    removed_by: str | None = None
    removed_at: Timestamp | None = None
    features: list[str] = Field(description="Columns a model learns from.")
    project: str = Field("default", description="The project it belongs to (derived datasets: their parent's).")

    @classmethod
    def from_domain(cls, dataset: Dataset) -> Self:
        return cls(**_fields(dataset), features=dataset.features)


class DatasetDetail(DatasetAnswer):
    """A dataset version with its lineage back to the raw source."""

    lineage: list[LineageNodeAnswer]

    @classmethod
    def with_lineage(cls, dataset: Dataset, lineage: Sequence[LineageNode]) -> Self:
        return cls(
            **_fields(dataset),
            features=dataset.features,
            lineage=[LineageNodeAnswer.from_domain(n) for n in lineage],
        )


class ModelVersionAnswer(Answer):
    """A model version."""

    id: str = Field(examples=["mv-9b1c2d3e"])
    name: str = Field(examples=["fraud"])
    version: int
    ref: str = Field(examples=["fraud/1"], description="name/version")
    algorithm: str
    params: dict[str, Any]
    class_weight: float
    threshold: float
    dataset_id: str
    frames: list[int]
    features: list[str]
    pipeline: list[dict[str, Any]]
    metrics: dict[str, Any]
    artifact_sha256: str
    artifact_format: str
    registered: bool
    aliases: list[str]
    created_by: str
    created_at: Timestamp
    twin_sha256: str | None = None
    project: str = Field("default", description="The project of the dataset it was trained on.")
    profile_sha256: str | None = Field(None, description="The reference profile of its training frames (drift).")

    @classmethod
    def from_domain(cls, model: ModelVersion) -> Self:
        return cls(**_fields(model), ref=model.ref)


class ModelAnswer(Answer):
    """A model name: its newest version and its aliases."""

    name: str
    latest_version: int
    algorithm: str
    aliases: dict[str, int] = Field(description="Alias to version.")

    @classmethod
    def from_versions(cls, versions: Sequence[ModelVersion]) -> list[Self]:
        """One answer per name, from model versions in ascending version order."""
        newest: dict[str, ModelVersion] = {}
        aliases: dict[str, dict[str, int]] = {}
        for model in versions:
            newest[model.name] = model
            for alias in model.aliases:
                aliases.setdefault(model.name, {})[alias] = model.version
        return [
            cls(name=n, latest_version=m.version, algorithm=m.algorithm, aliases=aliases.get(n, {}))
            for n, m in newest.items()
        ]


class ReportAnswer(Answer):
    """ModelReport: KPIs, curves and importances on the frames evaluated."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(examples=["fraud/1"])
    algorithm: str
    frames: list[int] = Field(default_factory=list)
    overall: dict[str, Any] | None = None
    per_frame: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_domain(cls, report: dict[str, Any]) -> Self:
        return cls.model_validate(report)


class ScoreRow(Answer):
    record_id: str
    frame: int | None
    score: float
    decision: int


class _ScoreResult(Protocol):
    """What the scoring service answers (services.scoring.ScoreResult), seen from here."""

    @property
    def batch(self) -> ScoreBatch: ...
    @property
    def records(self) -> ScoredRecords: ...
    @property
    def replayed(self) -> bool: ...
    @property
    def imputed(self) -> tuple[str, ...]: ...


class ScoreBatchAnswer(Answer):
    """NewDataScore: a committed score batch; `scores` when records were scored, null for a dataset's
    batch (page through it with the batch route)."""

    batch_id: str = Field(examples=["sb-51c0ab2e"])
    model: str = Field(examples=["fraud/1"], description="The model version that scored.")
    fallback_reason: str | None = Field(
        None,
        description="Why the name's fallback version scored instead of the version the request named (which "
        "could not be loaded); null when the version named scored.",
    )
    rows: int
    flagged: int = Field(description="Records whose decision is 1.")
    created_at: Timestamp
    replayed: bool = Field(description="True when an idempotency key matched: nothing new was written.")
    scores: list[ScoreRow] | None
    imputed: list[str] = Field(
        default_factory=list,
        description="Columns whose missing values (null) were filled by the model's recorded missing-value "
        "policy (its preparation's median or zero fill); a gap the policy does not fill is refused (422).",
    )

    @staticmethod
    def dump(result: _ScoreResult, *, with_scores: bool = True) -> dict[str, Any]:
        """The answer as plain JSON values, built without validation (the hot path answers this)."""
        return {
            "batch_id": result.batch.id,
            "model": result.batch.model_ref,
            "fallback_reason": result.batch.fallback_reason,
            "rows": result.batch.rows,
            "flagged": sum(result.records.decisions),
            "created_at": iso_time(result.batch.created_at),
            "replayed": result.replayed,
            "scores": result.records.as_dicts() if with_scores else None,
            "imputed": list(result.imputed),
        }

    @classmethod
    def from_domain(cls, result: _ScoreResult, *, with_scores: bool = True) -> Self:
        return cls.model_validate(cls.dump(result, with_scores=with_scores))


class ScoreBatchPage(Answer):
    """A page of a persisted score batch."""

    batch_id: str
    model: str
    fallback_reason: str | None = Field(None, description="Why the name's fallback version scored, if it did.")
    rows: int = Field(description="Scores in the whole batch.")
    flagged: int = Field(description="Records of this page whose decision is 1.")
    created_at: Timestamp
    scores: list[ScoreRow]
    limit: int
    offset: int
    next: int | None = Field(None, description="Offset of the next page; null on the last one.")
    role: str | None = Field(
        None,
        description="A challenger's batch: shadow (scored beside the champion's batches shadow_of, never "
        "answered) or canary (it answered instead of the champion); null for every other batch.",
    )
    shadow_of: list[str] | None = Field(
        None,
        description="The champion's batches a shadow batch scored beside (the requests one gathering window "
        "of the shadow took together); null for every other batch.",
    )

    @staticmethod
    def dump(result: _ScoreResult, limit: int, offset: int) -> dict[str, Any]:
        page = result.records.page(offset, offset + limit)
        after = offset + len(page)
        return {
            "batch_id": result.batch.id,
            "model": result.batch.model_ref,
            "fallback_reason": result.batch.fallback_reason,
            "rows": result.batch.rows,
            "flagged": sum(page.decisions),
            "created_at": iso_time(result.batch.created_at),
            "scores": page.as_dicts(),
            "limit": limit,
            "offset": offset,
            "next": after if after < result.batch.rows else None,
            "role": result.batch.role,
            "shadow_of": list(result.batch.shadow_of) or None,
        }


class _LabelReport(Protocol):
    @property
    def import_id(self) -> str: ...
    @property
    def imported(self) -> int: ...
    @property
    def positives(self) -> int: ...
    @property
    def unknown(self) -> int: ...
    @property
    def unknown_sample(self) -> list[str]: ...


class LabelReportAnswer(Answer):
    """NewDataLabel: how many labels were upserted, and those naming records never scored."""

    import_id: str
    imported: int
    positives: int
    unknown: int = Field(description="Labels of records never scored (kept for later scores).")
    unknown_sample: list[str]

    @classmethod
    def from_domain(cls, report: _LabelReport) -> Self:
        return cls.model_validate(report)


class _Verification(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def rows(self) -> list[dict[str, Any]]: ...
    @property
    def comparison(self) -> dict[str, Any] | None: ...


class VerificationAnswer(Answer):
    """NewDataReport: persisted scores against labels, per model version and frame, then overall."""

    model: str = Field(examples=["fraud@champion"])
    rows: list[dict[str, Any]] = Field(
        description="One row per model version and frame (frame 'all' last): counts and KPIs beside the "
        "training report's roc_auc and pr_auc."
    )
    comparison: dict[str, Any] | None = Field(
        None,
        description="With compare: the two versions on the records both scored (shadow scores included) "
        "and that have labels: records, positives, first_roc_auc, second_roc_auc, difference (second minus "
        "first), std_error, p_value and interval of DeLong's paired test, and whether it is significant at level.",
    )

    warnings: list[str] = Field(default_factory=list,
                                description="Why an estimate beside the realized KPIs may be off.")  # fmt: skip

    @classmethod
    def from_domain(cls, verification: _Verification) -> Self:
        return cls.model_validate(verification)


class _Estimation(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def rows(self) -> list[dict[str, Any]]: ...
    @property
    def warnings(self) -> list[str]: ...


class EstimationAnswer(Answer):
    """Performance before labels: CBPE estimates of the unlabelled scores, per model version and frame."""

    model: str = Field(examples=["fraud@champion"])
    rows: list[dict[str, Any]] = Field(
        description="One row per model version and frame with unlabelled scores (frame 'all' last): the "
        "estimated roc_auc, precision, recall, f1, each interval, the expected confusion and the calibration."
    )
    warnings: list[str] = Field(description="Versions estimated from raw scores, having no calibration.")

    @classmethod
    def from_domain(cls, estimation: _Estimation) -> Self:
        return cls.model_validate(estimation)


class MonitoringAnswer(Answer):
    """Drift of a model version's inputs and scores against the reference profile of its training frames."""

    model: str = Field(examples=["fraud@champion"])
    model_version: str = Field(examples=["fraud/3"], description="The version the reference names.")
    source: str = Field(description="What was compared: a dataset's frames, or records scored online since a time.")
    reference: dict[str, Any] = Field(description="The training frames profiled, and their rows.")
    levels: dict[str, Any] = Field(
        description="PSI and missing-rate change at which drift warns and alarms; features never judged."
    )
    rows: list[dict[str, Any]] = Field(
        description="One row per frame (or hour, `period`) and feature, then frame/period 'all': psi, js_distance "
        "(Jensen-Shannon, base 2), missing_rate beside reference_missing_rate, level (ok, warning, alarm, or "
        "ignored for a feature never judged). "
        "The feature 'score' is the model's score distribution."
    )
    alarms: list[str] = Field(description="Features (or 'score') whose worst level is alarm.")
    warnings: list[str] = Field(description="Features (or 'score') whose worst level is warning.")

    @classmethod
    def from_domain(cls, monitoring: Any) -> Self:
        return cls(**_fields(monitoring))


class JobAnswer(Answer):
    """A durable job: status, phase, progress, and the method's answer or its error."""

    id: str = Field(examples=["job-0c1d2e3f"])
    kind: str = Field(examples=["train"])
    status: JobStatus
    params: dict[str, Any]
    phase: str | None
    progress: float = Field(ge=0, le=1)
    result: dict[str, Any] | None = Field(description="The method's answer once it succeeded.")
    error: dict[str, Any] | None = Field(description="A problem (type, title, detail) once it failed.")
    cancel_requested: bool
    owner: str
    created_by: str
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None
    request_id: str | None = Field(None, description="The HTTP request that submitted the job (X-Request-ID).")

    @classmethod
    def from_domain(cls, job: Job) -> Self:
        return cls(**_fields(job))


class PerfRecordAnswer(Answer):
    method: str
    started_at: Timestamp
    duration_s: float
    rows_in: int | None
    rows_out: int | None
    peak_rss_mb: float
    cpu_s: float
    gc_runs: int
    outcome: Outcome
    dataset: str | None = None
    model: str | None = None
    error: str | None = None
    pid: int = 0
    request_id: str | None = Field(None, description="The HTTP request the call served (X-Request-ID).")

    @classmethod
    def from_domain(cls, record: PerfRecord) -> Self:
        return cls(**_fields(record))


class PerfSummaryAnswer(Answer):
    method: str
    calls: int
    errors: int
    median_duration_s: float
    median_cpu_s: float
    median_rows_in: float | None
    max_peak_rss_mb: float


class PerfAnswer(Page[PerfRecordAnswer]):
    """Performance records, newest first, with medians per method."""

    summary: list[PerfSummaryAnswer]

    @classmethod
    def from_domain(cls, records: Sequence[PerfRecord], summaries: Sequence[Any], limit: int) -> Self:
        return cls(
            items=[PerfRecordAnswer.from_domain(r) for r in records],
            total=len(records),
            limit=limit,
            offset=0,
            next=None,
            summary=[PerfSummaryAnswer.model_validate(s) for s in summaries],
        )


class AuditEventAnswer(Answer):
    """An audit event: who did what to which resource, when, in which request, and the state before and
    after (with the sha256 of each state's canonical JSON, and the event's hash in the chain)."""

    seq: int = Field(description="Position in the hash chain, from 1, without gaps.")
    at: Timestamp
    principal: str
    action: str = Field(examples=["alias.set"])
    resource: str = Field(examples=["alias:fraud@champion"])
    request_id: str | None
    before: Any
    after: Any
    before_sha256: str | None
    after_sha256: str | None
    hash: str
    environment: str | None = Field(
        default=None,
        description="The environment (dev, qa, prod) of the deployment that wrote it, covered by its hash; "
        "null: written before environments were recorded.",
    )

    @classmethod
    def from_domain(cls, event: AuditEvent) -> Self:
        return cls(**_fields(event))


class UserAnswer(Answer):
    """An API user as REST and `crispml users list --json` show it: never its key, salt or digest."""

    name: str
    role: str = Field(examples=["scientist"])
    projects: list[str] | None = Field(description="The projects the key may see; null: every project.")
    status: str = Field(examples=["active", "revoked"])
    created_by: str
    created_at: Timestamp
    rotated_at: Timestamp | None
    revoked_at: Timestamp | None

    @classmethod
    def from_domain(cls, user: ApiUser) -> Self:
        return cls(
            name=user.name, role=user.role, projects=None if user.projects is None else list(user.projects),
            status="revoked" if user.revoked_at else "active", created_by=user.created_by,
            created_at=user.created_at, rotated_at=user.rotated_at, revoked_at=user.revoked_at,
        )  # fmt: skip


class PrincipalAnswer(Answer):
    """Who a request acts as, and what its role may do (the console hides what it may not)."""

    name: str
    role: str = Field(examples=["viewer"])
    projects: list[str] | None = Field(description="The projects the key may see; null: every project.")
    keys_required: bool = Field(description="Whether the server asks every request for an API key.")
    allowed: list[str] = Field(description="The actions of the permission table this role is granted.")
    version: str = Field(description="The server's crispml version.")
    environment: str = Field(default="dev", description="The server's environment: dev, qa or prod.")
