"""Repository of the score ledger: batches and their scores, joined to labels for verification."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any

import pandas as pd
from sqlalchemy import Connection, func, or_, select

from crispml.domain import SHADOW, NewScoreBatch, ScoreBatch, ScoredRecords
from crispml.errors import NotFound
from crispml.storage import schema as t
from crispml.storage.bulk_insert import COPY_FROM_ROWS, DriverInsert, scores_csv, sqlite_insert_values
from crispml.storage.record_rows import delete_by_record_id

_SCORE_COLUMNS = ("batch_id", "record_id", "frame", "score", "decision")


def _score_rows(batches: Sequence[NewScoreBatch]) -> Iterator[tuple[Any, ...]]:
    """The batches' score rows in `_SCORE_COLUMNS` order."""
    for new in batches:
        rows = new.records
        yield from zip(repeat(new.batch.id), rows.record_ids, rows.frames, rows.scores, rows.decisions)


_INSERT_BATCH = DriverInsert(t.score_batches)


class LedgerRepository:
    def __init__(self, connection: Connection, projects: frozenset[str] | None = None) -> None:
        self.connection = connection
        self.projects = projects
        """`get_batch` sees only batches of models in these projects (None: all)."""

    def find_batch(self, idempotency_key: str) -> tuple[ScoreBatch, str] | None:
        """The batch written under an idempotency key and the sha256 of the request that wrote it."""
        query = (
            select(t.score_batches, t.model_versions.c.name, t.model_versions.c.version)
            .join(t.model_versions, t.model_versions.c.id == t.score_batches.c.model_version_id)
            .where(t.score_batches.c.idempotency_key == idempotency_key)
        )
        row = self.connection.execute(query).mappings().first()
        if row is None:
            return None
        return _batch(row), row["request_sha256"]

    def get_batch(self, batch_id: str) -> ScoreBatch:
        query = (
            select(t.score_batches, t.model_versions.c.name, t.model_versions.c.version)
            .join(t.model_versions, t.model_versions.c.id == t.score_batches.c.model_version_id)
            .where(t.score_batches.c.id == batch_id)
        )
        if self.projects is not None:
            query = query.where(t.model_versions.c.project.in_(sorted(self.projects)))
        row = self.connection.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"score batch {batch_id!r} does not exist")
        return _batch(row)

    def add_batches(self, batches: Sequence[NewScoreBatch]) -> None:
        """Append the scores of `batches` with one bulk statement, then their batch rows, each with a
        range of score ids that holds its scores (`batch_scores` reads that range, without an index)."""
        raw = self.connection.connection.driver_connection
        bulk = self._postgres_scores if self.connection.dialect.name == "postgresql" else self._sqlite_scores
        spans = bulk(raw, batches)
        _INSERT_BATCH(
            self.connection,
            [
                {
                    "id": new.batch.id,
                    "model_version_id": new.batch.model_version_id,
                    "idempotency_key": new.batch.idempotency_key,
                    "request_sha256": new.request_sha256,
                    "source": new.batch.source,
                    "rows": new.batch.rows,
                    "threshold": new.threshold,
                    "first_score_id": first,
                    "last_score_id": last,
                    "created_by": new.user,
                    "created_at": new.batch.created_at,
                    "fallback_reason": new.batch.fallback_reason,
                    "role": new.batch.role,
                    "shadow_of": " ".join(new.batch.shadow_of) or None,
                }
                for new, (first, last) in zip(batches, spans, strict=True)
            ],
        )

    def _sqlite_scores(self, raw: Any, batches: Sequence[NewScoreBatch]) -> list[tuple[int, int]]:
        cursor = raw.cursor()
        try:
            head = f"INSERT INTO scores ({', '.join(_SCORE_COLUMNS)}) VALUES"
            last = sqlite_insert_values(cursor, head, len(_SCORE_COLUMNS), list(_score_rows(batches)))
        finally:
            cursor.close()
        # SQLite has one writer at a time, so the rows get consecutive ids, in order.
        spans, first = [], last - sum(len(new.records) for new in batches) + 1
        for new in batches:
            spans.append((first, first + len(new.records) - 1))
            first += len(new.records)
        return spans

    def _postgres_scores(self, raw: Any, batches: Sequence[NewScoreBatch]) -> list[tuple[int, int]]:
        sequence = "pg_get_serial_sequence('scores', 'id')"
        with raw.cursor() as cursor:
            # Concurrent writers may interleave ids, but ours all lie after `below` and up to `last`.
            (below,) = cursor.execute(f"SELECT nextval({sequence})").fetchone()
            if sum(len(new.records) for new in batches) < COPY_FROM_ROWS:
                cursor.executemany(
                    f"INSERT INTO scores ({', '.join(_SCORE_COLUMNS)}) VALUES (%s, %s, %s, %s, %s)",
                    _score_rows(batches),
                )
            else:
                with cursor.copy(f"COPY scores ({', '.join(_SCORE_COLUMNS)}) FROM STDIN WITH (FORMAT csv)") as copy:
                    copy.write(scores_csv(batches).getbuffer())
            (last,) = cursor.execute(f"SELECT currval({sequence})").fetchone()
        # Each batch gets the span of the whole statement: `batch_scores` also filters by batch id.
        return [(int(below) + 1, int(last))] * len(batches)

    def batch_scores(self, batch_id: str) -> ScoredRecords:
        batches = t.score_batches
        first, last = batches.c.first_score_id, batches.c.last_score_id
        span = self.connection.execute(select(first, last).where(batches.c.id == batch_id)).first()
        if span is None:
            raise NotFound(f"score batch {batch_id!r} does not exist")
        query = (
            select(t.scores.c.record_id, t.scores.c.frame, t.scores.c.score, t.scores.c.decision)
            .where(t.scores.c.id.between(span[0], span[1]), t.scores.c.batch_id == batch_id)
            .order_by(t.scores.c.id)
        )
        found = self.connection.execute(query).all()
        ids, frames, scores, decisions = (
            (list(column) for column in zip(*found, strict=True)) if found else ([], [], [], [])
        )
        return ScoredRecords(ids, frames, scores, decisions)

    def joined_labels(
        self, model_ids: Iterable[str], frames: Sequence[int] | None, *, shadows: bool = False
    ) -> pd.DataFrame:
        """Scores of the given model versions, each joined to its label (NaN where none is known): the
        scores that answered requests, and with `shadows` also those a challenger scored in the shadow."""
        batches = t.score_batches
        query = (
            select(
                t.scores.c.record_id,
                batches.c.model_version_id,
                t.scores.c.frame,
                t.scores.c.score,
                batches.c.threshold,
                batches.c.created_at,
                t.labels.c.label,
            )
            .join(batches, batches.c.id == t.scores.c.batch_id)
            .outerjoin(t.labels, t.labels.c.record_id == t.scores.c.record_id)
            .where(batches.c.model_version_id.in_(list(model_ids)))
        )
        if not shadows:
            query = query.where(or_(batches.c.role.is_(None), batches.c.role != SHADOW))
        if frames:
            query = query.where(t.scores.c.frame.in_(list(frames)))
        columns = ["record_id", "model_version_id", "frame", "score", "threshold", "scored_at", "label"]
        return pd.DataFrame(self.connection.execute(query).all(), columns=columns)

    def count(self) -> int:
        return int(self.connection.scalar(select(func.count()).select_from(t.scores)) or 0)

    def delete_records(self, record_ids: Collection[str]) -> int:
        """Delete the scores of these records (a data subject's erasure); their batches' rows stay."""
        return delete_by_record_id(self.connection, t.scores, record_ids)


def _batch(row: Any) -> ScoreBatch:
    return ScoreBatch(
        id=row["id"],
        model_version_id=row["model_version_id"],
        model_ref=f"{row['name']}/{row['version']}",
        idempotency_key=row["idempotency_key"],
        source=row["source"],
        rows=row["rows"],
        created_at=row["created_at"],
        fallback_reason=row["fallback_reason"],
        role=row["role"],
        shadow_of=tuple(row["shadow_of"].split()) if row["shadow_of"] else (),
    )
