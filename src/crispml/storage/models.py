"""Repository of model versions and their aliases (champion, challenger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, select, update

from crispml.domain import ModelVersion
from crispml.domain.refs import ModelRef
from crispml.errors import NotFound
from crispml.storage import schema as t
from crispml.storage.versioned import insert_versioned


class ModelRepository:
    def __init__(self, connection: Connection, projects: frozenset[str] | None = None) -> None:
        self.connection = connection
        self.projects = projects
        """Reads see only models of these projects (None: all); the rest do not exist for them."""

    def next_version(self, name: str) -> int:
        query = select(func.max(t.model_versions.c.version)).where(t.model_versions.c.name == name)
        return int(self.connection.scalar(query) or 0) + 1

    def add(self, model: ModelVersion) -> ModelVersion:
        """Insert a model as the next version of its name; returns it with the version it got."""
        return insert_versioned(self.connection, model, t.model_versions, _model_row, self.next_version)

    def get(self, ref: str) -> ModelVersion:
        """A model version by 'name@alias', 'name/version', 'mv-...' id, or 'name' (its newest version)."""
        row = self.connection.execute(_model_query(ref, self.projects, t.model_versions)).mappings().first()
        if row is None:
            raise NotFound(f"model {ref!r} does not exist")
        return self._version(row)

    def id_of(self, ref: str) -> str:
        """The id of the model version `ref` names, as `get` resolves it, in one light query."""
        found = self.connection.scalar(_model_query(ref, self.projects, t.model_versions.c.id))
        if found is None:
            raise NotFound(f"model {ref!r} does not exist")
        return str(found)

    def list_versions(self, name: str | None = None) -> list[ModelVersion]:
        query = select(t.model_versions).order_by(t.model_versions.c.name, t.model_versions.c.version)
        if name is not None:
            query = query.where(t.model_versions.c.name == name)
        if self.projects is not None:
            query = query.where(t.model_versions.c.project.in_(sorted(self.projects)))
        return [self._version(row) for row in self.connection.execute(query).mappings()]

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

    def move_alias(self, model: ModelVersion, alias: str, expected_id: str, user: str, at: datetime) -> bool:
        """Point `alias` at `model` if it still points at `expected_id`: of several processes that read the
        same alias, exactly one sees True (the others' conditional update matches no row)."""
        key = and_(t.model_aliases.c.name == model.name, t.model_aliases.c.alias == alias,
                   t.model_aliases.c.model_version_id == expected_id)  # fmt: skip
        query = update(t.model_aliases).where(key).values(model_version_id=model.id, updated_by=user, updated_at=at)
        return bool(self.connection.execute(query).rowcount == 1)

    def delete_alias(self, name: str, alias: str) -> None:
        key = and_(t.model_aliases.c.name == name, t.model_aliases.c.alias == alias)
        if self.connection.execute(delete(t.model_aliases).where(key)).rowcount == 0:
            raise NotFound(f"model {name!r} has no alias {alias!r}")

    def alias_refs(self, limit: int) -> list[str]:
        """Up to `limit` 'name@alias' references, the most recently set first."""
        aliases = t.model_aliases
        query = select(aliases.c.name, aliases.c.alias).order_by(aliases.c.updated_at.desc()).limit(limit)
        return [str(ModelRef.of(name, alias=alias)) for name, alias in self.connection.execute(query)]

    def aliased(self) -> list[tuple[str, str, int, str]]:
        """(name, alias, version, algorithm) of every alias, by name and alias."""
        aliases, versions = t.model_aliases, t.model_versions
        query = (
            select(aliases.c.name, aliases.c.alias, versions.c.version, versions.c.algorithm)
            .join(versions, versions.c.id == aliases.c.model_version_id)
            .order_by(aliases.c.name, aliases.c.alias)
        )
        if self.projects is not None:
            query = query.where(versions.c.project.in_(sorted(self.projects)))
        return [(str(n), str(a), int(v), str(alg)) for n, a, v, alg in self.connection.execute(query)]

    def _version(self, row: Any) -> ModelVersion:
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
            project=row["project"],
            profile_sha256=row["profile_sha256"],
        )

    def artifacts(self) -> set[str]:
        """The sha256 of every model's file, ONNX twin, calibration and reference profile."""
        shas = set(self.connection.scalars(select(t.model_versions.c.artifact_sha256)))
        twins = select(t.model_versions.c.twin_sha256).where(t.model_versions.c.twin_sha256.is_not(None))
        shas.update(self.connection.scalars(twins))
        for metrics in self.connection.scalars(select(t.model_versions.c.metrics)):
            # A model's calibration file (see crispml.steps.calibration) is named in its metrics.
            calibration = metrics.get("calibration") if isinstance(metrics, dict) else None
            if isinstance(calibration, dict) and calibration.get("sha256"):
                shas.add(str(calibration["sha256"]))
        profiles = select(t.model_versions.c.profile_sha256).where(t.model_versions.c.profile_sha256.is_not(None))
        shas.update(self.connection.scalars(profiles))
        return shas


def _model_query(ref: str, projects: frozenset[str] | None, *columns: Any) -> Any:
    """SELECT `columns` of the model version that `ref` names (see `ModelRepository.get`), if in `projects`."""
    query = select(*columns)
    if projects is not None:
        query = query.where(t.model_versions.c.project.in_(sorted(projects)))
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
        "profile_sha256": model.profile_sha256,
        "registered": model.registered,
        "created_by": model.created_by,
        "created_at": model.created_at,
        "project": model.project,
    }
