"""Repository of dataset versions: immutable, versioned by name, found by id, name/version or name."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from crispml.domain import Dataset, Stage
from crispml.domain.refs import DatasetRef
from crispml.errors import NotFound
from crispml.storage import schema as t
from crispml.storage.versioned import insert_versioned


class DatasetRepository:
    def __init__(self, connection: Connection, projects: frozenset[str] | None = None) -> None:
        self.connection = connection
        self.projects = projects
        """Reads see only datasets of these projects (None: all); the rest do not exist for them."""

    def _visible(self, query: Any) -> Any:
        return query if self.projects is None else query.where(t.datasets.c.project.in_(sorted(self.projects)))

    def next_version(self, name: str) -> int:
        current = self.connection.scalar(select(func.max(t.datasets.c.version)).where(t.datasets.c.name == name))
        return int(current or 0) + 1

    def add(self, dataset: Dataset) -> Dataset:
        """Insert a dataset as the next version of its name; returns it with the version it got."""
        return insert_versioned(self.connection, dataset, t.datasets, _dataset_row, self.next_version)

    def get(self, ref: str) -> Dataset:
        """A dataset by id ('ds-...'), by name (its newest version) or by 'name/version'."""
        query = self._visible(select(t.datasets))
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

    def list_versions(self, stage: Stage | None = None) -> list[Dataset]:
        query = self._visible(select(t.datasets)).order_by(
            t.datasets.c.created_at, t.datasets.c.name, t.datasets.c.version
        )
        if stage is not None:
            query = query.where(t.datasets.c.stage == stage.value)
        return [_dataset(row) for row in self.connection.execute(query).mappings()]

    def latest(self, stage: Stage) -> Dataset:
        query = self._visible(select(t.datasets)).where(t.datasets.c.stage == stage.value)
        row = self.connection.execute(query.order_by(t.datasets.c.created_at.desc()).limit(1)).mappings().first()
        if row is None:
            raise NotFound(f"no {stage.value} dataset exists yet")
        return _dataset(row)

    def artifacts(self) -> set[str]:
        """The sha256 of every dataset's file (a removed version's file is no longer referenced)."""
        return set(self.connection.scalars(select(t.datasets.c.sha256).where(t.datasets.c.removed.is_(None))))

    # -- data protection --------------------------------------------------------------------------
    def set_tags(self, dataset_id: str, tags: dict[str, str]) -> None:
        """Replace a version's column tags (metadata: its rows stay as they are)."""
        self.connection.execute(update(t.datasets).where(t.datasets.c.id == dataset_id).values(tags=tags))

    def mark_removed(self, dataset_ids: Sequence[str], reason: str, user: str, at: datetime) -> None:
        """Record that these versions' rows are deleted; their rows stay for lineage and audit."""
        if dataset_ids:
            self.connection.execute(
                update(t.datasets)
                .where(t.datasets.c.id.in_(list(dataset_ids)))
                .values(removed=reason, removed_by=user, removed_at=at)
            )

    def removed_version(self, sha256: str) -> Dataset | None:
        """A removed version whose file had this sha256 (to say why a read finds no file)."""
        query = select(t.datasets).where(t.datasets.c.sha256 == sha256, t.datasets.c.removed.is_not(None)).limit(1)
        row = self.connection.execute(query).mappings().first()
        return None if row is None else _dataset(row)

    def set_retention(self, name: str, days: int | None, user: str, at: datetime) -> None:
        """Keep versions of dataset `name` for `days` days (None: for ever)."""
        table = t.dataset_retention
        self.connection.execute(delete(table).where(table.c.name == name))
        if days is not None:
            self.connection.execute(insert(table).values(name=name, days=days, set_by=user, set_at=at))

    def retention(self) -> dict[str, int]:
        """Retention period in days by dataset name, for the names that have one."""
        table = t.dataset_retention
        return {row.name: row.days for row in self.connection.execute(select(table.c.name, table.c.days))}


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
        "project": dataset.project,
        "tags": dataset.tags,
        "removed": dataset.removed,
        "removed_by": dataset.removed_by,
        "removed_at": dataset.removed_at,
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
        project=row["project"],
        tags=row["tags"] or {},
        removed=row["removed"],
        removed_by=row["removed_by"],
        removed_at=row["removed_at"],
    )
