"""Repository of labels: ground truth by record id, the latest label per record."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

import pandas as pd
from sqlalchemy import Connection, and_, exists, func, select

from crispml.storage import schema as t
from crispml.storage.bulk_insert import DriverInsert
from crispml.storage.record_rows import delete_by_record_id

_UPSERT_LABEL = DriverInsert(t.labels, upsert_on=("record_id",))
_LOOKUP_CHUNK = 500
"""Record ids per lookup of existing labels (below SQLite's bound-variable limit)."""


class LabelRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def upsert(self, labels: pd.DataFrame, source: str, import_id: str, user: str, at: datetime) -> None:
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

    def existing(self, record_ids: list[str]) -> dict[str, int]:
        """The labels stored now for those of `record_ids` that have one (what an upsert would replace)."""
        found: dict[str, int] = {}
        for start in range(0, len(record_ids), _LOOKUP_CHUNK):
            chunk = record_ids[start : start + _LOOKUP_CHUNK]
            query = select(t.labels.c.record_id, t.labels.c.label).where(t.labels.c.record_id.in_(chunk))
            found.update((str(r), int(v)) for r, v in self.connection.execute(query))
        return found

    def unscored(self, import_id: str) -> tuple[int, list[str]]:
        """How many labels of an import name a record the ledger has never scored, and a few of them."""
        # scores.record_id has no index (it would cost as much as scoring): PostgreSQL runs NOT EXISTS as
        # a hash anti-join; SQLite builds NOT IN's list once instead of scanning the ledger per label.
        if self.connection.dialect.name == "postgresql":
            unseen = ~exists().where(t.scores.c.record_id == t.labels.c.record_id)
        else:
            unseen = t.labels.c.record_id.not_in(select(t.scores.c.record_id))
        never_scored = and_(t.labels.c.import_id == import_id, unseen)
        count = int(self.connection.scalar(select(func.count()).select_from(t.labels).where(never_scored)) or 0)
        sample = self.connection.scalars(select(t.labels.c.record_id).where(never_scored).limit(10)).all()
        return count, list(sample)

    def scored_by_version(self, import_id: str) -> dict[tuple[str, int], int]:
        """How many labels of an import name a record each model version scored, by (name, version)."""
        # Driven from the ledger (no index on scores.record_id): one pass over it, probing the import's ids.
        versions, batches = t.model_versions, t.score_batches
        imported = select(t.labels.c.record_id).where(t.labels.c.import_id == import_id)
        query = (
            select(versions.c.name, versions.c.version, func.count(t.scores.c.record_id.distinct()))
            .select_from(t.scores)
            .join(batches, batches.c.id == t.scores.c.batch_id)
            .join(versions, versions.c.id == batches.c.model_version_id)
            .where(t.scores.c.record_id.in_(imported))
            .group_by(versions.c.name, versions.c.version)
        )
        return {(str(name), int(version)): int(count) for name, version, count in self.connection.execute(query)}

    def count(self) -> int:
        return int(self.connection.scalar(select(func.count()).select_from(t.labels)) or 0)

    def delete_records(self, record_ids: Collection[str]) -> int:
        """Delete the labels of these records (a data subject's erasure); returns how many went."""
        return delete_by_record_id(self.connection, t.labels, record_ids)
