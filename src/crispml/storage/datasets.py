"""Repository of dataset versions: immutable, versioned by name, found by id, name/version or name."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from crispml.domain import Dataset, DatasetRef, Stage
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
        """The sha256 of every dataset's file."""
        return set(self.connection.scalars(select(t.datasets.c.sha256)))


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
    )
