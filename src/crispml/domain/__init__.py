"""Domain vocabulary: frozen dataclasses and enums shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

RECORD_ID = "record_id"
FRAME = "frame"
SHADOW = "shadow"
"""The role of a challenger's score batch scored beside the champion's and never answered."""
CANARY = "canary"
"""The role of a challenger's score batch that answered a request instead of the champion."""
RESERVED_COLUMNS = (RECORD_ID, FRAME)


class Stage(StrEnum):
    RAW = "raw"
    PREPARED = "prepared"
    CURATED = "curated"


class Outcome(StrEnum):
    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True)
class ColumnStats:
    """R's summary() of one numeric column, as the reference's repDataIngest answers it."""

    column: str
    min: float
    q1: float
    median: float
    mean: float
    q3: float
    max: float


@dataclass(frozen=True)
class Dataset:
    """An immutable dataset version: a content-addressed Parquet file plus its metadata."""

    id: str
    name: str
    version: int
    stage: Stage
    sha256: str
    rows: int
    frames: int
    target: str
    columns: dict[str, str]
    params: dict[str, Any]
    report: dict[str, Any]
    source: str
    source_sha256: str | None
    parent_id: str | None
    created_by: str
    created_at: datetime
    project: str = "default"
    """The project it belongs to (derived datasets inherit their parent's): a key sees only its projects."""
    tags: dict[str, str] = field(default_factory=dict)
    """Column -> `personal`, `quasi-identifier` or `sensitive` (see `crispml.steps.privacy.Tag`)."""
    removed: str | None = None
    """`erased` or `expired` once the version's rows were deleted (its metadata and lineage stay)."""
    removed_by: str | None = None
    removed_at: datetime | None = None

    @property
    def features(self) -> list[str]:
        """Columns a model learns from: everything but the target and the reserved columns."""
        return [c for c in self.columns if c != self.target and c not in RESERVED_COLUMNS]


@dataclass(frozen=True)
class ModelVersion:
    """One trained model under a name, with everything needed to reproduce and audit it."""

    id: str
    name: str
    version: int
    algorithm: str
    params: dict[str, Any]
    class_weight: float
    threshold: float
    dataset_id: str
    frames: tuple[int, ...]
    features: tuple[str, ...]
    pipeline: list[dict[str, Any]]
    metrics: dict[str, Any]
    artifact_sha256: str
    artifact_format: str
    registered: bool
    aliases: tuple[str, ...]
    created_by: str
    created_at: datetime
    twin_sha256: str | None = None
    """The model compiled to ONNX for fast scoring (see `crispml.steps.fast_path`), when it compiles."""
    project: str = "default"
    """The project of the dataset it was trained on."""
    profile_sha256: str | None = None
    """The reference profile of its training frames (JSON, see `crispml.steps.drift`); None before crispml kept one."""

    @property
    def ref(self) -> str:
        return f"{self.name}/{self.version}"


@dataclass(frozen=True)
class ScoreBatch:
    id: str
    model_version_id: str
    model_ref: str
    idempotency_key: str | None
    source: str
    rows: int
    created_at: datetime
    fallback_reason: str | None = None
    """Why the fallback version answered instead of the one the request named (None: it did not)."""
    role: str | None = None
    """A challenger's batch: SHADOW (scored beside the champion's, never answered) or CANARY (it answered
    instead of the champion); None for every other batch."""
    shadow_of: tuple[str, ...] = ()
    """The champion's batches a shadow batch scored beside: every request the shadow gathered in one
    window (see `crispml.services.challengers`); empty for every other batch."""


@dataclass(frozen=True)
class ScoredRecords:
    """A score batch's rows, column-wise and in input order, as plain values (no frame to build)."""

    record_ids: list[str]
    frames: list[int | None]
    scores: list[float]
    decisions: list[int]

    def __len__(self) -> int:
        return len(self.record_ids)

    def as_dicts(self) -> list[dict[str, Any]]:
        """One object per row: record_id, frame, score, decision (as the REST answers and --json show)."""
        return [
            {"record_id": r, "frame": f, "score": s, "decision": d}
            for r, f, s, d in zip(self.record_ids, self.frames, self.scores, self.decisions, strict=True)
        ]

    def page(self, start: int, stop: int) -> ScoredRecords:
        return ScoredRecords(
            self.record_ids[start:stop], self.frames[start:stop], self.scores[start:stop], self.decisions[start:stop]
        )


@dataclass(frozen=True)
class NewScoreBatch:
    """A scored batch on its way into the ledger, with what its batch row records besides."""

    batch: ScoreBatch
    records: ScoredRecords
    request_sha256: str
    user: str
    threshold: float
    request_id: str | None = None
    """The HTTP request that wrote it (the audit log records it), if any."""


@dataclass(frozen=True)
class PerfRecord:
    method: str
    started_at: datetime
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
    request_id: str | None = None
    """The HTTP request the measured call served (a job's: the request that submitted it)."""


@dataclass(frozen=True)
class LineageNode:
    kind: str
    id: str
    label: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceSpec:
    """Where raw data comes from: a file path, or a registered source (`source`) with a table, a query or a path.

    Database URLs never travel in a spec: an admin registers them as named sources (`DataSource`).
    """

    path: str | None = None
    source: str | None = None
    table: str | None = None
    query: str | None = None
    pool: str | None = None
    """A dataset of the shared data pool (name, name/version or name@version), read through the
    environment's filter (see `crispml.services.pool`)."""

    def describe(self) -> str:
        """What was read, for lineage, job parameters and messages: never a URL or a secret."""
        if self.pool is not None:
            return f"pool dataset {self.pool}"
        if self.source is None:
            return self.path or ""
        if self.table:
            return f"source {self.source} table {self.table}"
        if self.query:
            return f"source {self.source} query {self.query[:200]!r}"
        return f"source {self.source} file {self.path}"


class SourceKind(StrEnum):
    SQL = "sql"
    FILES = "files"


@dataclass(frozen=True)
class DataSource:
    """A source an admin registered: a database (`sql`) or a folder of files (`files`).

    `location` is the URL or folder as registered; a database password in it is only ever a reference
    (`${ENV_VAR}` or `@file:/path`), resolved when connecting. Never show `location` to a caller.
    """

    name: str
    kind: SourceKind
    location: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class SourceColumn:
    name: str
    type: str


@dataclass(frozen=True)
class SourceTable:
    """A table of a database source, as its catalogue names it, with its row count."""

    name: str
    columns: tuple[SourceColumn, ...]
    rows: int


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self not in (JobStatus.QUEUED, JobStatus.RUNNING)


@dataclass(frozen=True)
class Job:
    """A long call (ingest, train, dataset scoring) run in the background, its state kept in the database."""

    id: str
    kind: str
    status: JobStatus
    params: dict[str, Any]
    phase: str | None
    progress: float
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    cancel_requested: bool
    owner: str
    created_by: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    runner: str = "inprocess"
    """"inprocess": run by the submitting process's threads; "workers": claimed by a `crispml worker`."""
    claimed_by: str | None = None
    """The worker holding the job's lease (renewed through its heartbeat), while it runs on a worker."""
    attempts: int = 0
    """How many times a worker claimed the job (a job whose worker died is claimed once more)."""
    request_id: str | None = None
    """The HTTP request that submitted the job; its log lines and perf records carry it too."""


@dataclass(frozen=True)
class AuditEvent:
    """One entry of the audit log: who did what to which resource, when, and the state before and after."""

    seq: int
    at: datetime
    principal: str
    action: str
    resource: str
    request_id: str | None
    before: Any
    after: Any
    before_sha256: str | None
    after_sha256: str | None
    hash: str
    environment: str | None = None
    """The deployment's environment (dev, qa, prod) that wrote it; None: written before environments were recorded."""


@dataclass(frozen=True)
class AuditQuery:
    """Filters of an audit listing; a trailing '*' on `action` or `resource` matches a prefix."""

    since: datetime | None = None
    until: datetime | None = None
    principal: str | None = None
    action: str | None = None
    resource: str | None = None


@dataclass(frozen=True)
class ApiUser:
    """A holder of an API key: its role and projects; the key itself is stored only as a salted digest."""

    name: str
    role: str
    projects: tuple[str, ...] | None
    """None: every project."""
    key_id: str
    """The key's public prefix, by which it is looked up (never enough to use it)."""
    key_salt: str
    key_digest: str
    created_by: str
    created_at: datetime
    rotated_at: datetime | None = None
    revoked_at: datetime | None = None
