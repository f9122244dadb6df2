"""A unit of work: one connection inside one transaction, and a repository per aggregate over it."""

from __future__ import annotations

from sqlalchemy import Connection

from crispml.storage.datasets import DatasetRepository
from crispml.storage.labels import LabelRepository
from crispml.storage.ledger import LedgerRepository
from crispml.storage.models import ModelRepository
from crispml.storage.perf import PerfRepository
from crispml.storage.source_registry import SourceRepository


class UnitOfWork:
    """What one service call reads and writes, committed (or rolled back) together.

    Repositories return domain dataclasses or frames, never ORM rows.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.datasets = DatasetRepository(connection)
        self.models = ModelRepository(connection)
        self.ledger = LedgerRepository(connection)
        self.labels = LabelRepository(connection)
        self.perf = PerfRepository(connection)
        self.sources = SourceRepository(connection)

    def referenced_artifacts(self) -> set[str]:
        """The sha256 of every file a dataset or model row names."""
        return self.datasets.artifacts() | self.models.artifacts()
