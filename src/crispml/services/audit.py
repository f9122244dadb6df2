"""The audit log as callers read it: filtered listings and the verification of its hash chain.

Events are written by the services that change state, each in the transaction of its change
(`uow.audit.append`); this service only reads them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from crispml.domain import AuditEvent, AuditQuery
from crispml.services.base import Service


class AuditService(Service):
    def events(self, query: AuditQuery, limit: int = 100, offset: int = 0) -> tuple[list[AuditEvent], int]:
        """Events matching `query`, newest first, and how many match in all (a time without a zone is UTC)."""
        query = replace(query, since=_utc(query.since), until=_utc(query.until))
        with self.store.reading() as uow:
            return uow.audit.list_events(query, limit, offset)

    def verify(self) -> int:
        """Walk the whole hash chain; returns how many events it holds.

        Raises `IntegrityFailure` (exit code 5) naming the first event edited, deleted or reordered.
        """
        with self.store.reading() as uow:
            return uow.audit.verify()


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment
