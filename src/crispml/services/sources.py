"""Data sources the server owns: registered by an admin, read by name, never reached by a client's URL.

Adding a source checks its location (no literal password, not crispml's own database) without
connecting: its password may only exist where the server runs. Listing answers names and kinds only.
"""

from __future__ import annotations

from pathlib import Path

from crispml.domain import DataSource, SourceKind, SourceSpec, SourceTable
from crispml.domain.refs import check_name
from crispml.errors import InvalidInput
from crispml.ports import Storage
from crispml.services.base import Service, now
from crispml.storage import sql_sources
from crispml.storage.source_urls import check_location
from crispml.storage.sources import DEFAULT_TIMEOUT_S, inside_root


class SourceService(Service):
    def __init__(self, store: Storage, user: str, own_database_url: str, data_dir: Path,
                 timeout_s: float = DEFAULT_TIMEOUT_S) -> None:  # fmt: skip
        super().__init__(store, user)
        self._own_database_url = own_database_url
        self._data_dir = data_dir
        self.timeout_s = timeout_s

    def contained(self, spec: SourceSpec) -> SourceSpec:
        """`spec` with a bare path resolved (symlinks followed) inside the data folder, for callers who do not
        own this machine (REST); Forbidden if it lands outside. A registered source's path is checked on reading.
        """
        if spec.path is None or spec.source is not None or spec.pool is not None:
            return spec
        return SourceSpec(path=str(inside_root(self._data_dir, spec.path, "the data folder")))

    def add(self, name: str, location: str) -> DataSource:
        """Register `location` (a database URL or an absolute folder) under `name`.

        InvalidInput if the URL holds a literal password, an option that could make the session
        writable, or points at crispml's own database; Conflict if the name is taken.
        """
        check_name(name, "source name")
        kind, stored = check_location(location, self._own_database_url)
        source = DataSource(name, kind, stored, self.user, now())
        with self.store.transaction() as uow:
            uow.sources.add(source)
            # The location is never part of an event: it may name hosts and secret files.
            uow.audit.append(action="source.add", resource=f"source:{name}", after={"kind": kind.value})
        return source

    def list_sources(self) -> list[DataSource]:
        """Every registered source (callers show names and kinds, never `location`)."""
        with self.store.reading() as uow:
            return uow.sources.list_sources()

    def get(self, name: str) -> DataSource:
        with self.store.reading() as uow:
            return uow.sources.get(name)

    def remove(self, name: str) -> None:
        """Forget a source; datasets read from it keep their lineage (its name)."""
        with self.store.transaction() as uow:
            removed = uow.sources.get(name)
            uow.sources.remove(name)
            uow.audit.append(action="source.remove", resource=f"source:{name}", before={"kind": removed.kind.value})

    def tables(self, name: str) -> list[SourceTable]:
        """The tables of a database source, with their columns and row counts, read on a read-only connection."""
        source = self.get(name)
        if source.kind is not SourceKind.SQL:
            raise InvalidInput(f"source {name!r} holds files, not tables", field="name")
        with sql_sources.reading(source, self.timeout_s) as connection:
            return sql_sources.tables(source, connection)
