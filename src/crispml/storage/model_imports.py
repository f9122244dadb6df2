"""Repository of model imports: where a version imported from another environment came from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from crispml.storage import schema as t


class ModelImportRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, model_version_id: str, provenance: dict[str, Any], user: str, at: datetime) -> None:
        """Record the provenance (source_environment, source_ref, bundle_sha256, key_id, manifest) of a version."""
        self.connection.execute(
            insert(t.model_imports).values(
                model_version_id=model_version_id,
                source_environment=provenance["source_environment"],
                source_ref=provenance["source_ref"],
                bundle_sha256=provenance["bundle_sha256"],
                key_id=provenance["key_id"],
                manifest=provenance["manifest"],
                imported_by=user,
                imported_at=at,
            )
        )

    def get(self, model_version_id: str) -> dict[str, Any] | None:
        """The provenance of an imported version; None for a version made here."""
        row = (
            self.connection.execute(
                select(t.model_imports).where(t.model_imports.c.model_version_id == model_version_id)
            )
            .mappings()
            .first()
        )
        return None if row is None else dict(row)
