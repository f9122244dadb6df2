"""Answer models: one JSON shape per resource, built from the services' domain objects.

REST, the CLI's `--json` (local and remote) and the Python client all answer with these shapes. Each
model's `from_domain` takes the domain object. The scoring side's answers (score batches, labels,
verification, estimation, monitoring) are in `crispml.contract.scoring`; this module holds the shapes
they share (`Answer`, `Page`, `Timestamp`) and the training and governance side's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Self, TypeVar

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


def field_values(value: Any) -> dict[str, Any]:
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
        return cls(**field_values(node))


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
        return cls(**field_values(dataset), features=dataset.features)


class DatasetDetail(DatasetAnswer):
    """A dataset version with its lineage back to the raw source."""

    lineage: list[LineageNodeAnswer]

    @classmethod
    def with_lineage(cls, dataset: Dataset, lineage: Sequence[LineageNode]) -> Self:
        return cls(
            **field_values(dataset),
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
        return cls(**field_values(model), ref=model.ref)


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
        return cls(**field_values(job))


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
        return cls(**field_values(record))


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
        return cls(**field_values(event))


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
