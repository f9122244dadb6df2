"""A unit of work: one connection inside one transaction, and a repository per aggregate over it."""

from __future__ import annotations

from sqlalchemy import Connection

from crispml.storage.audit import AuditRepository
from crispml.storage.datasets import DatasetRepository
from crispml.storage.jobs import JobRepository
from crispml.storage.labels import LabelRepository
from crispml.storage.ledger import LedgerRepository
from crispml.storage.models import ModelRepository
from crispml.storage.perf import PerfRepository


class UnitOfWork:
    """What one service call reads and writes, committed (or rolled back) together.

    Repositories return domain dataclasses or frames, never ORM rows.
    """

    def __init__(self, connection: Connection, user: str = "crispml") -> None:
        """`user` is whom audit events are attributed to when no principal is acting."""
        self.connection = connection
        self.datasets = DatasetRepository(connection)
        self.models = ModelRepository(connection)
        self.ledger = LedgerRepository(connection)
        self.labels = LabelRepository(connection)
        self.perf = PerfRepository(connection)
        self.jobs = JobRepository(connection)
        self.audit = AuditRepository(connection, user)

    def referenced_artifacts(self) -> set[str]:
        """The sha256 of every file a dataset or model row names."""
        return self.datasets.artifacts() | self.models.artifacts()
