"""Repository of the data sources an admin registered (`crispml sources add`)."""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from crispml.domain import DataSource, SourceKind
from crispml.errors import Conflict, NotFound
from crispml.storage import schema as t


class SourceRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, source: DataSource) -> None:
        """Insert a source; Conflict if its name is taken."""
        if self._row(source.name) is not None:
            raise Conflict(f"source {source.name!r} already exists; remove it first to change it")
        try:
            self.connection.execute(
                insert(t.data_sources).values(
                    name=source.name,
                    kind=source.kind.value,
                    location=source.location,
                    created_by=source.created_by,
                    created_at=source.created_at,
                )
            )
        except IntegrityError:  # added by someone else since the check above
            raise Conflict(f"source {source.name!r} already exists; remove it first to change it") from None

    def get(self, name: str) -> DataSource:
        row = self._row(name)
        if row is None:
            raise NotFound(f"source {name!r} is not registered; an admin adds it with `crispml sources add`")
        return _source(row)

    def list_sources(self) -> list[DataSource]:
        rows = self.connection.execute(select(t.data_sources).order_by(t.data_sources.c.name)).mappings()
        return [_source(row) for row in rows]

    def remove(self, name: str) -> None:
        if self.connection.execute(delete(t.data_sources).where(t.data_sources.c.name == name)).rowcount == 0:
            raise NotFound(f"source {name!r} is not registered")

    def _row(self, name: str) -> RowMapping | None:
        query = select(t.data_sources).where(t.data_sources.c.name == name)
        return self.connection.execute(query).mappings().first()


def _source(row: RowMapping) -> DataSource:
    return DataSource(row["name"], SourceKind(row["kind"]), row["location"], row["created_by"], row["created_at"])
