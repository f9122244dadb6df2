"""Score batches and perf rows handed to the group commit as plain data.

Each class is a unit of work for `GroupCommit`: called with a unit of work it writes itself, and its
`together(uow, units)` writes a group of its kind with one statement. Services build them from plain
values; the writer thread runs them without ever calling back up into service code (the only callable
a unit carries is the scoring function it was handed, such as a scorer's bound method).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from crispml.domain import NewScoreBatch, PerfRecord, ScoreBatch, ScoredRecords
from crispml.faults import crash_point
from crispml.storage.audit import NewEvent
from crispml.storage.unit_of_work import UnitOfWork

ScoreGroup = Callable[[np.ndarray, float], np.ndarray]
"""Scores a feature matrix: P(class 1) per row, given the decision threshold."""


def scored_records(
    record_ids: list[str], frames: list[int | None], score: np.ndarray, threshold: float
) -> ScoredRecords:
    """Rows of a batch: the scores as given, and a decision per row (score at or above `threshold`)."""
    decisions = (score >= threshold).astype(np.int64).tolist()
    return ScoredRecords(record_ids, frames, score.tolist(), decisions)


class Keyed(Protocol):
    """Records under their ids and frames (a request's inputs, a hot unit)."""

    @property
    def record_ids(self) -> list[str]: ...

    @property
    def frames(self) -> list[int | None]: ...


def scored_together(parts: Sequence[Keyed], score: np.ndarray, threshold: float) -> ScoredRecords:
    """The rows of several requests scored by one call (`score` in their order), made plain values once:
    each request then takes its `page`."""
    if len(parts) == 1:
        return scored_records(parts[0].record_ids, parts[0].frames, score, threshold)
    record_ids: list[str] = []
    frames: list[int | None] = []
    for part in parts:
        record_ids += part.record_ids
        frames += part.frames
    return scored_records(record_ids, frames, score, threshold)


@dataclass(frozen=True)
class ScoresWrite:
    """Appends one scored batch; a group's batches share one insert (`together`)."""

    new: NewScoreBatch

    def __call__(self, uow: UnitOfWork) -> None:
        self.together(uow, [self])

    @staticmethod
    def together(uow: UnitOfWork, units: list[ScoresWrite]) -> None:
        append_batches(uow, [unit.new for unit in units])


@dataclass
class HotScores:
    """Scores a few records, then appends them as one batch (the hot path).

    A group's units of one model (`group_key`) are scored by one call of the first unit's `score`,
    which shares the call's fixed cost (and, for tree ensembles, the cache misses on the nodes every
    row visits). Scoring on the writer's thread also keeps the model off an asyncio server's event loop.
    """

    group_key: str
    score: ScoreGroup
    threshold: float
    record_ids: list[str]
    frames: list[int | None]
    features: np.ndarray
    batch: ScoreBatch
    request_sha256: str
    user: str
    records: ScoredRecords | None = None
    """The batch's rows, once scored (they are committed when the unit's future completes)."""
    request_id: str | None = None
    """The HTTP request it serves, for the audit log (the writer thread runs outside its context)."""

    def __call__(self, uow: UnitOfWork) -> None:
        self.together(uow, [self])

    @staticmethod
    def together(uow: UnitOfWork, units: list[HotScores]) -> None:
        by_model: dict[str, list[HotScores]] = {}
        for unit in units:
            by_model.setdefault(unit.group_key, []).append(unit)
        written = []
        for same in by_model.values():
            first = same[0]
            features = np.concatenate([u.features for u in same]) if len(same) > 1 else first.features
            score = first.score(features, first.threshold)
            rows = scored_together(same, score, first.threshold)
            start = 0
            for unit in same:
                end = start + len(unit.record_ids)
                unit.records = rows.page(start, end)
                new = NewScoreBatch(
                    unit.batch, unit.records, unit.request_sha256, unit.user, first.threshold, unit.request_id
                )
                written.append(new)
                start = end
        append_batches(uow, written)


@dataclass(frozen=True)
class BatchesWrite:
    """Appends several scored batches with one insert (a challenger's shadow batches)."""

    batches: tuple[NewScoreBatch, ...]

    def __call__(self, uow: UnitOfWork) -> None:
        append_batches(uow, list(self.batches))


@dataclass(frozen=True)
class PerfWrite:
    """Stores one perf record; a group's records share one insert."""

    record: PerfRecord

    def __call__(self, uow: UnitOfWork) -> None:
        uow.perf.add(self.record)

    @staticmethod
    def together(uow: UnitOfWork, units: list[PerfWrite]) -> None:
        uow.perf.add_many([unit.record for unit in units])


def append_batches(uow: UnitOfWork, batches: list[NewScoreBatch]) -> None:
    """Append scored batches and their audit events (one insert for the group's events), then pass the
    crash point tests use to kill a writer before its commit."""
    uow.ledger.add_batches(batches)
    uow.audit.append_quietly([_batch_event(new) for new in batches])
    crash_point("scores.before_commit")


def _batch_event(new: NewScoreBatch) -> NewEvent:
    """A score batch's audit event: who scored how many records with which model version.

    Its resource is the model version, not the batch: the events of one model share their key in the
    resource index, so thousands of batches a second append to one index page instead of each writing
    a random one (the batch id is in the after-state)."""
    batch = new.batch
    after: dict[str, object] = {"batch": batch.id, "rows": batch.rows}
    if batch.idempotency_key is not None:
        after["idempotency_key"] = batch.idempotency_key
    if batch.fallback_reason is not None:
        after["fallback_reason"] = batch.fallback_reason
    if batch.role is not None:
        after["role"] = batch.role
    if batch.shadow_of:
        after["shadow_of"] = list(batch.shadow_of)
    return NewEvent("score.batch", f"model:{batch.model_ref}", None, after, new.user, new.request_id)
