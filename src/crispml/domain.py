"""Domain vocabulary: frozen dataclasses and enums shared by every layer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from crispml.errors import InvalidInput

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


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str, what: str = "name") -> str:
    """Names of datasets, models and aliases: a letter, then letters, digits, '_', '.' or '-'."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"{what} {name!r} is not valid: start with a letter, then up to 63 letters, digits, '_', '.' or '-'",
            field=what,
        )
    return name


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model version: `name@alias`, `name/3`, an id `mv-...`, or `name` (its newest version).

    Exactly one form is set: `id`; or `name` with `alias`, with `version`, or alone.
    """

    name: str | None = None
    alias: str | None = None
    version: int | None = None
    id: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse a reference; `InvalidInput` names what is wrong with one that cannot name a model."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("a model reference is empty; use name, name@alias, name/3 or mv-...", field="model")
        if text.startswith("mv-"):
            return cls(id=text)
        if "@" in text:
            name, alias = text.split("@", 1)
            return cls(name=_ref_part(name, "model name", text), alias=_ref_part(alias, "alias", text))
        if "/" in text:
            name, version = text.split("/", 1)
            return cls(name=_ref_part(name, "model name", text), version=_version(version, text, f"{name}/3"))
        return cls(name=_ref_part(text, "model name", text))

    @classmethod
    def of(cls, name: str, *, version: int | None = None, alias: str | None = None) -> ModelRef:
        """The reference REST spells as a name with an optional version or alias (not both)."""
        if version is not None and alias is not None:
            raise InvalidInput("give a version or an alias, not both", field="version")
        return cls(name=name, version=version, alias=alias)

    @property
    def newest(self) -> bool:
        """Whether the reference is a bare name: its newest version (or, to some readers, all of them)."""
        return self.id is None and self.alias is None and self.version is None

    def __str__(self) -> str:
        if self.id is not None:
            return self.id
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return str(self.name)


@dataclass(frozen=True)
class DatasetRef:
    """A reference to a dataset version: `name/2`, an id `ds-...`, or `name` (its newest version)."""

    name: str | None = None
    version: int | None = None
    id: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """Parse a reference; `InvalidInput` names what is wrong with one that cannot name a dataset."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("a dataset reference is empty; use name, name/2 or ds-...", field="dataset")
        if text.startswith("ds-"):
            return cls(id=text)
        name, slash, version = text.partition("/")
        if slash:
            return cls(name=_ref_part(name, "dataset name", text), version=_version(version, text, f"{name}/2"))
        return cls(name=_ref_part(text, "dataset name", text))

    def __str__(self) -> str:
        if self.id is not None:
            return self.id
        return f"{self.name}/{self.version}" if self.version is not None else str(self.name)


def _ref_part(part: str, what: str, text: str) -> str:
    if not _NAME.match(part):
        raise InvalidInput(
            f"{text!r} is not a valid reference: {what} {part!r} must start with a letter, then up to 63 "
            "letters, digits, '_', '.' or '-'",
            field=what.split()[0],
        )
    return part


def _version(version: str, text: str, example: str) -> int:
    # isascii: str.isdigit() also holds for '²' and other scripts' digits, which int() refuses.
    if not (version.isascii() and version.isdigit()) or len(version) > 9 or int(version) < 1:
        raise InvalidInput(f"{text!r} is not a valid reference: a version is a number from 1, as in {example}")
    return int(version)


def parse_frames(spec: str | list[int] | tuple[int, ...] | None, available: int) -> tuple[int, ...]:
    """Parse '1-6', '7,9,11' or '1-3,8' into sorted frame numbers, each within 1..available."""
    if spec is None or spec == "":
        return tuple(range(1, available + 1))
    numbers: set[int] = set()
    if isinstance(spec, str):
        for part in spec.split(","):
            part = part.strip()
            try:
                if "-" in part:
                    lo_text, hi_text = part.split("-", 1)
                    lo, hi = _frame_number(lo_text), _frame_number(hi_text)
                    if lo > hi:
                        raise InvalidInput(f"frame range {part!r} runs backwards", field="frames")
                    # Bounded before anything is built: '1-999999999999' must not become a trillion numbers.
                    if lo < 1 or hi > available:
                        raise InvalidInput(
                            f"frame range {part!r} is out of range: the dataset has frames 1..{available}",
                            field="frames",
                        )
                    numbers.update(range(lo, hi + 1))
                else:
                    numbers.add(_frame_number(part))
            except ValueError:
                raise InvalidInput(
                    f"frames {spec!r} is not a list of frames like '1-6' or '7,8,9'", field="frames"
                ) from None
    else:
        numbers.update(int(n) for n in spec)
    bad = sorted(n for n in numbers if n < 1 or n > available)
    if bad:
        raise InvalidInput(f"frame {bad[0]} is out of range 1..{available}", field="frames")
    if not numbers:
        raise InvalidInput("no frames selected", field="frames")
    return tuple(sorted(numbers))


def format_frames(frames: list[int] | tuple[int, ...]) -> str:
    """Frame numbers as `parse_frames` reads them, runs shortened: [1, 2, 3, 5] -> '1-3,5'."""
    numbers = sorted(set(frames))
    runs: list[str] = []
    start = 0
    for i, number in enumerate(numbers):
        if i + 1 == len(numbers) or numbers[i + 1] != number + 1:
            first = numbers[start]
            runs.append(str(first) if first == number else f"{first}-{number}")
            start = i + 1
    return ",".join(runs)


def _frame_number(text: str) -> int:
    # ASCII digits only: int() would take '²'-like digits of other scripts and spaces.
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ValueError(text)
    return int(text)


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


# --- retraining triggers and webhooks (issue 16) ---


@dataclass(frozen=True)
class RetrainPolicy:
    """When a model retrains itself: its conditions (canonical texts such as `new-labels>=500`), the
    pipeline a trigger runs, and the shortest time between two triggers."""

    model: str
    conditions: tuple[str, ...]
    pipeline: dict[str, Any]
    cooldown_s: float
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_fired_at: datetime | None = None


@dataclass(frozen=True)
class RetrainTrigger:
    """One firing of a policy: the condition that held, its figures, the job it ran and what it made."""

    id: str
    model: str
    kind: str
    condition: str
    figures: dict[str, Any]
    job_id: str
    status: str
    """running, succeeded or failed."""
    fired_by: str
    fired_at: datetime
    finished_at: datetime | None = None
    model_version_id: str | None = None
    challenger: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class WebhookTarget:
    """A URL an admin registered to be told of events; its secret lives in the server's environment."""

    id: str
    url: str
    events: tuple[str, ...]
    secret_env: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class WebhookDelivery:
    id: str
    target_id: str
    url: str
    event: str
    payload: dict[str, Any]
    status: str
    """pending, delivered or failed."""
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    delivered_at: datetime | None = None


# --- the challenger promotion policy (issue 16) ---


@dataclass(frozen=True)
class ChallengerProposal:
    """A challenger the promotion policy proposed to replace its champion, awaiting a person's approval."""

    id: str
    model: str
    champion_id: str
    challenger_id: str
    champion: str
    challenger: str
    status: str
    """open, approved, rejected, or superseded (the champion or challenger moved before anyone decided)."""
    figures: dict[str, Any]
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ChallengerDecision:
    """What the policy decided for one model name, and the figures it decided on."""

    model: str
    outcome: str
    reason: str
    champion: str | None = None
    challenger: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    gate: str | None = None
    proposal: str | None = None
    recorded: bool = False
    """Whether this call recorded it (audit, metric, webhook): False when an earlier check already had."""

    def event(self) -> dict[str, Any]:
        return {"model": self.model, "outcome": self.outcome, "reason": self.reason, "champion": self.champion,
                "challenger": self.challenger, "gate": self.gate, "proposal": self.proposal,
                "figures": self.figures}  # fmt: skip
