"""A unit of work: one connection inside one transaction, and a repository per aggregate over it."""

from __future__ import annotations

from functools import cached_property

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
        self._projects = None if principal is None else principal.projects
        self._user = user
        self._environment = environment

    # Built when first used: a group commit's transaction uses three of them, and building all thirteen
    # cost it more than its BEGIN and COMMIT statements.
    @cached_property
    def datasets(self) -> DatasetRepository:
        return DatasetRepository(self.connection, self._projects)

    @cached_property
    def models(self) -> ModelRepository:
        return ModelRepository(self.connection, self._projects)

    @cached_property
    def ledger(self) -> LedgerRepository:
        return LedgerRepository(self.connection, self._projects)

    @cached_property
    def labels(self) -> LabelRepository:
        return LabelRepository(self.connection)

    @cached_property
    def perf(self) -> PerfRepository:
        return PerfRepository(self.connection)

    @cached_property
    def jobs(self) -> JobRepository:
        return JobRepository(self.connection)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.connection, self._user, self._environment)

    @cached_property
    def principals(self) -> PrincipalRepository:
        return PrincipalRepository(self.connection)

    @cached_property
    def sources(self) -> SourceRepository:
        return SourceRepository(self.connection)

    @cached_property
    def retrain(self) -> RetrainRepository:
        return RetrainRepository(self.connection)

    @cached_property
    def webhooks(self) -> WebhookRepository:
        return WebhookRepository(self.connection)

    @cached_property
    def imports(self) -> ModelImportRepository:
        return ModelImportRepository(self.connection)

    @cached_property
    def proposals(self) -> ProposalRepository:
        return ProposalRepository(self.connection)

    def referenced_artifacts(self) -> set[str]:
        """The sha256 of every file a dataset or model row names."""
        return self.datasets.artifacts() | self.models.artifacts()
