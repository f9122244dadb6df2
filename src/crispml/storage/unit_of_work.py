"""A unit of work: one connection inside one transaction, and a repository per aggregate over it."""

from __future__ import annotations

from sqlalchemy import Connection

from crispml.identity import acting
from crispml.storage.audit import AuditRepository
from crispml.storage.datasets import DatasetRepository
from crispml.storage.jobs import JobRepository
from crispml.storage.labels import LabelRepository
from crispml.storage.ledger import LedgerRepository
from crispml.storage.model_imports import ModelImportRepository
from crispml.storage.models import ModelRepository
from crispml.storage.perf import PerfRepository
from crispml.storage.principals import PrincipalRepository
from crispml.storage.proposals import ProposalRepository
from crispml.storage.retrain import RetrainRepository
from crispml.storage.source_registry import SourceRepository
from crispml.storage.webhooks import WebhookRepository


class UnitOfWork:
    """What one service call reads and writes, committed (or rolled back) together.

    Repositories return domain dataclasses or frames, never ORM rows. Datasets, models and score
    batches outside the acting principal's projects are invisible to its reads (they answer NotFound).
    """

    def __init__(self, connection: Connection, user: str = "crispml", environment: str | None = None) -> None:
        """`user` is whom audit events are attributed to when no principal is acting; `environment` the
        deployment's (dev, qa, prod), recorded with every audit event."""
        self.connection = connection
        principal = acting()
        projects = None if principal is None else principal.projects
        self.datasets = DatasetRepository(connection, projects)
        self.models = ModelRepository(connection, projects)
        self.ledger = LedgerRepository(connection, projects)
        self.labels = LabelRepository(connection)
        self.perf = PerfRepository(connection)
        self.jobs = JobRepository(connection)
        self.audit = AuditRepository(connection, user, environment)
        self.principals = PrincipalRepository(connection)
        self.sources = SourceRepository(connection)
        self.retrain = RetrainRepository(connection)
        self.webhooks = WebhookRepository(connection)
        self.imports = ModelImportRepository(connection)
        self.proposals = ProposalRepository(connection)

    def referenced_artifacts(self) -> set[str]:
        """The sha256 of every file a dataset or model row names."""
        return self.datasets.artifacts() | self.models.artifacts()
