"""Repositories: the only code that reads and writes crispml's tables.

A `Repository` wraps one connection inside one transaction (the service call's unit of work) and
returns domain dataclasses or DataFrames, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from itertools import repeat
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import Connection, Table, and_, delete, exists, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from crispml.domain import (
    Dataset,
    DatasetRef,
    ModelRef,
    ModelVersion,
    NewScoreBatch,
    Outcome,
    PerfRecord,
    ScoreBatch,
    ScoredRecords,
    Stage,
)
from crispml.errors import Conflict, NotFound
from crispml.storage import schema as t
from crispml.storage.bulk_insert import COPY_FROM_ROWS, DriverInsert, scores_csv, sqlite_insert_values

V = TypeVar("V", Dataset, ModelVersion)
_SCORE_COLUMNS = ("batch_id", "record_id", "frame", "score", "decision")


def _score_rows(batches: Sequence[NewScoreBatch]) -> Iterator[tuple[Any, ...]]:
    """The batches' score rows in `_SCORE_COLUMNS` order."""
    for new in batches:
        rows = new.records
        yield from zip(repeat(new.batch.id), rows.record_ids, rows.frames, rows.scores, rows.decisions)


_INSERT_BATCH = DriverInsert(t.score_batches)
_INSERT_PERF = DriverInsert(t.perf_records)
_UPSERT_LABEL = DriverInsert(t.labels, upsert_on=("record_id",))


class Repository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name

    # -- datasets -------------------------------------------------------------------------------
    def next_dataset_version(self, name: str) -> int:
        current = self.connection.scalar(select(func.max(t.datasets.c.version)).where(t.datasets.c.name == name))
        return int(current or 0) + 1

    def add_dataset(self, dataset: Dataset) -> Dataset:
        """Insert a dataset as the next version of its name; returns it with the version it got."""
        return self._insert_versioned(dataset, t.datasets, _dataset_row, self.next_dataset_version)

    def get_dataset(self, ref: str) -> Dataset:
        """A dataset by id ('ds-...'), by name (its newest version) or by 'name/version'."""
        query = select(t.datasets)
        parsed = DatasetRef.parse(ref)
        if parsed.id is not None:
            query = query.where(t.datasets.c.id == parsed.id)
        elif parsed.version is not None:
            query = query.where(t.datasets.c.name == parsed.name, t.datasets.c.version == parsed.version)
        else:
            query = query.where(t.datasets.c.name == parsed.name).order_by(t.datasets.c.version.desc()).limit(1)
        row = self.connection.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"dataset {ref!r} does not exist")
        return _dataset(row)

    def list_datasets(self, stage: Stage | None = None) -> list[Dataset]:
        query = select(t.datasets).order_by(t.datasets.c.created_at, t.datasets.c.name, t.datasets.c.version)
        if stage is not None:
            query = query.where(t.datasets.c.stage == stage.value)
        return [_dataset(row) for row in self.connection.execute(query).mappings()]

    def latest_dataset(self, stage: Stage) -> Dataset:
        query = select(t.datasets).where(t.datasets.c.stage == stage.value)
        row = self.connection.execute(query.order_by(t.datasets.c.created_at.desc()).limit(1)).mappings().first()
        if row is None:
            raise NotFound(f"no {stage.value} dataset exists yet")
        return _dataset(row)

    def referenced_artifacts(self) -> set[str]:
        shas = set(self.connection.scalars(select(t.datasets.c.sha256)))
        shas.update(self.connection.scalars(select(t.model_versions.c.artifact_sha256)))
        shas.update(
            self.connection.scalars(
                select(t.model_versions.c.twin_sha256).where(t.model_versions.c.twin_sha256.is_not(None))
            )
        )
        return shas

    # -- models ---------------------------------------------------------------------------------
    def next_model_version(self, name: str) -> int:
        query = select(func.max(t.model_versions.c.version)).where(t.model_versions.c.name == name)
        return int(self.connection.scalar(query) or 0) + 1

    def add_model(self, model: ModelVersion) -> ModelVersion:
        """Insert a model as the next version of its name; returns it with the version it got."""
        return self._insert_versioned(model, t.model_versions, _model_row, self.next_model_version)

    def _insert_versioned(self, item: V, table: Table, row: Callable[[V], dict[str, Any]],
                          next_version: Callable[[str], int]) -> V:  # fmt: skip
        # A concurrent writer may take the same number first (PostgreSQL runs both transactions at
        # once); the unique constraint refuses the second, which then takes the next number.
        for _attempt in range(20):
            candidate = replace(item, version=next_version(item.name))
            try:
                with self.connection.begin_nested():
                    self.connection.execute(insert(table).values(**row(candidate)))
                return candidate
            except IntegrityError as exc:
                if "version" not in str(exc.orig):
                    raise
        raise Conflict(f"could not find a free version number for {item.name!r}; retry")

    def get_model(self, ref: str) -> ModelVersion:
        """A model version by 'name@alias', 'name/version', 'mv-...' id, or 'name' (its newest version)."""
        row = self.connection.execute(_model_query(ref, t.model_versions)).mappings().first()
        if row is None:
            raise NotFound(f"model {ref!r} does not exist")
        return self._model(row)

    def model_id(self, ref: str) -> str:
        """The id of the model version `ref` names, as `get_model` resolves it, in one light query."""
        found = self.connection.scalar(_model_query(ref, t.model_versions.c.id))
        if found is None:
            raise NotFound(f"model {ref!r} does not exist")
        return str(found)

    def list_models(self, name: str | None = None) -> list[ModelVersion]:
        query = select(t.model_versions).order_by(t.model_versions.c.name, t.model_versions.c.version)
        if name is not None:
            query = query.where(t.model_versions.c.name == name)
        return [self._model(row) for row in self.connection.execute(query).mappings()]

    def mark_registered(self, model_id: str) -> None:
        self.connection.execute(
            update(t.model_versions).where(t.model_versions.c.id == model_id).values(registered=True)
        )

    def set_alias(self, model: ModelVersion, alias: str, user: str, at: datetime) -> None:
        key = and_(t.model_aliases.c.name == model.name, t.model_aliases.c.alias == alias)
        self.connection.execute(delete(t.model_aliases).where(key))
        self.connection.execute(
            insert(t.model_aliases).values(
                name=model.name, alias=alias, model_version_id=model.id, updated_by=user, updated_at=at
            )
        )

    def delete_alias(self, name: str, alias: str) -> None:
        key = and_(t.model_aliases.c.name == name, t.model_aliases.c.alias == alias)
        if self.connection.execute(delete(t.model_aliases).where(key)).rowcount == 0:
            raise NotFound(f"model {name!r} has no alias {alias!r}")

    def alias_refs(self, limit: int) -> list[str]:
        """Up to `limit` 'name@alias' references, the most recently set first."""
        aliases = t.model_aliases
        query = select(aliases.c.name, aliases.c.alias).order_by(aliases.c.updated_at.desc()).limit(limit)
        return [f"{name}@{alias}" for name, alias in self.connection.execute(query)]

    def _model(self, row: Any) -> ModelVersion:
        aliases = self.connection.scalars(
            select(t.model_aliases.c.alias).where(t.model_aliases.c.model_version_id == row["id"])
        ).all()
        return ModelVersion(
            id=row["id"],
            name=row["name"],
            version=row["version"],
            algorithm=row["algorithm"],
            params=row["params"],
            class_weight=row["class_weight"],
            threshold=row["threshold"],
            dataset_id=row["dataset_id"],
            frames=tuple(row["frames"]),
            features=tuple(row["features"]),
            pipeline=row["pipeline"],
            metrics=row["metrics"],
            artifact_sha256=row["artifact_sha256"],
            artifact_format=row["artifact_format"],
            registered=bool(row["registered"]),
            aliases=tuple(sorted(aliases)),
            created_by=row["created_by"],
            created_at=row["created_at"],
            twin_sha256=row["twin_sha256"],
        )

    # -- score ledger ---------------------------------------------------------------------------
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
        row = self.connection.execute(query).mappings().first()
        if row is None:
            raise NotFound(f"score batch {batch_id!r} does not exist")
        return _batch(row)

    def add_score_batches(self, batches: Sequence[NewScoreBatch]) -> None:
        """Append the scores of `batches` with one bulk statement, then their batch rows, each with a
        range of score ids that holds its scores (`batch_scores` reads that range, without an index)."""
        raw = self.connection.connection.driver_connection
        bulk = self._postgres_scores if self.dialect == "postgresql" else self._sqlite_scores
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

    def ledger(self, model_ids: Iterable[str], frames: Sequence[int] | None) -> pd.DataFrame:
        """Scores of the given model versions, each joined to its label (NaN where none is known)."""
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
        if frames:
            query = query.where(t.scores.c.frame.in_(list(frames)))
        columns = ["record_id", "model_version_id", "frame", "score", "threshold", "scored_at", "label"]
        return pd.DataFrame(self.connection.execute(query).all(), columns=columns)

    def count_scores(self) -> int:
        return int(self.connection.scalar(select(func.count()).select_from(t.scores)) or 0)

    # -- labels ---------------------------------------------------------------------------------
    def upsert_labels(self, labels: pd.DataFrame, source: str, import_id: str, user: str, at: datetime) -> None:
        _UPSERT_LABEL(
            self.connection,
            [
                {
                    "record_id": r,
                    "label": int(v),
                    "source": source,
                    "import_id": import_id,
                    "labelled_by": user,
                    "labelled_at": at,
                }
                for r, v in zip(labels["record_id"].astype(str).tolist(), labels["label"].tolist(), strict=True)
            ],
        )

    def unscored_labels(self, import_id: str) -> tuple[int, list[str]]:
        """How many labels of an import name a record the ledger has never scored, and a few of them."""
        # scores.record_id has no index (it would cost as much as scoring): PostgreSQL runs NOT EXISTS as
        # a hash anti-join; SQLite builds NOT IN's list once instead of scanning the ledger per label.
        if self.dialect == "postgresql":
            unseen = ~exists().where(t.scores.c.record_id == t.labels.c.record_id)
        else:
            unseen = t.labels.c.record_id.not_in(select(t.scores.c.record_id))
        never_scored = and_(t.labels.c.import_id == import_id, unseen)
        count = int(self.connection.scalar(select(func.count()).select_from(t.labels).where(never_scored)) or 0)
        sample = self.connection.scalars(select(t.labels.c.record_id).where(never_scored).limit(10)).all()
        return count, list(sample)

    def count_labels(self) -> int:
        return int(self.connection.scalar(select(func.count()).select_from(t.labels)) or 0)

    # -- performance records --------------------------------------------------------------------
    def add_perf(self, record: PerfRecord) -> None:
        self.add_perf_records([record])

    def add_perf_records(self, records: Sequence[PerfRecord]) -> None:
        _INSERT_PERF(
            self.connection,
            [
                {
                    "method": record.method,
                    "started_at": record.started_at,
                    "duration_s": record.duration_s,
                    "rows_in": record.rows_in,
                    "rows_out": record.rows_out,
                    "peak_rss_mb": record.peak_rss_mb,
                    "cpu_s": record.cpu_s,
                    "gc_runs": record.gc_runs,
                    "outcome": record.outcome.value,
                    "dataset": record.dataset,
                    "model": record.model,
                    "error": record.error,
                    "pid": record.pid,
                }
                for record in records
            ],
        )

    def list_perf(self, method: str | None = None, limit: int = 1000) -> list[PerfRecord]:
        query = select(t.perf_records).order_by(t.perf_records.c.id.desc()).limit(limit)
        if method is not None:
            query = query.where(t.perf_records.c.method == method)
        return [
            PerfRecord(
                method=row["method"],
                started_at=row["started_at"],
                duration_s=row["duration_s"],
                rows_in=row["rows_in"],
                rows_out=row["rows_out"],
                peak_rss_mb=row["peak_rss_mb"],
                cpu_s=row["cpu_s"],
                gc_runs=row["gc_runs"],
                outcome=Outcome(row["outcome"]),
                dataset=row["dataset"],
                model=row["model"],
                error=row["error"],
                pid=row["pid"],
            )
            for row in self.connection.execute(query).mappings()
        ]


def _dataset_row(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": dataset.name,
        "version": dataset.version,
        "stage": dataset.stage.value,
        "sha256": dataset.sha256,
        "rows": dataset.rows,
        "frames": dataset.frames,
        "target": dataset.target,
        "columns": dataset.columns,
        "params": dataset.params,
        "report": dataset.report,
        "source": dataset.source,
        "source_sha256": dataset.source_sha256,
        "parent_id": dataset.parent_id,
        "created_by": dataset.created_by,
        "created_at": dataset.created_at,
    }


def _dataset(row: Any) -> Dataset:
    return Dataset(
        id=row["id"],
        name=row["name"],
        version=row["version"],
        stage=Stage(row["stage"]),
        sha256=row["sha256"],
        rows=row["rows"],
        frames=row["frames"],
        target=row["target"],
        columns=row["columns"],
        params=row["params"],
        report=row["report"],
        source=row["source"],
        source_sha256=row["source_sha256"],
        parent_id=row["parent_id"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def _model_query(ref: str, *columns: Any) -> Any:
    """SELECT `columns` of the model version that `ref` names (see `Repository.get_model`)."""
    query = select(*columns)
    parsed = ModelRef.parse(ref)
    if parsed.alias is not None:
        target = select(t.model_aliases.c.model_version_id).where(
            t.model_aliases.c.name == parsed.name, t.model_aliases.c.alias == parsed.alias
        )
        return query.where(t.model_versions.c.id == target.scalar_subquery())
    if parsed.id is not None:
        return query.where(t.model_versions.c.id == parsed.id)
    if parsed.version is not None:
        return query.where(t.model_versions.c.name == parsed.name, t.model_versions.c.version == parsed.version)
    return query.where(t.model_versions.c.name == parsed.name).order_by(t.model_versions.c.version.desc()).limit(1)


def _model_row(model: ModelVersion) -> dict[str, Any]:
    return {
        "id": model.id,
        "name": model.name,
        "version": model.version,
        "algorithm": model.algorithm,
        "params": model.params,
        "class_weight": model.class_weight,
        "threshold": model.threshold,
        "dataset_id": model.dataset_id,
        "frames": list(model.frames),
        "features": list(model.features),
        "pipeline": model.pipeline,
        "metrics": model.metrics,
        "artifact_sha256": model.artifact_sha256,
        "artifact_format": model.artifact_format,
        "twin_sha256": model.twin_sha256,
        "registered": model.registered,
        "created_by": model.created_by,
        "created_at": model.created_at,
    }


def _batch(row: Any) -> ScoreBatch:
    return ScoreBatch(
        id=row["id"],
        model_version_id=row["model_version_id"],
        model_ref=f"{row['name']}/{row['version']}",
        idempotency_key=row["idempotency_key"],
        source=row["source"],
        rows=row["rows"],
        created_at=row["created_at"],
    )
