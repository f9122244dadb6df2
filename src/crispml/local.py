"""crispml's Python API on a local store: `crispml.connect()` returns a `Crispml`.

Each method is the service call of the same name with the same parameters (a test holds them equal);
the services, the store and the settings stay reachable for callers that need more.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from crispml.container import Container
from crispml.container import connect as connect_container
from crispml.domain import RECORD_ID, Dataset, LineageNode, ModelVersion, SourceSpec, Stage
from crispml.ports import Storage
from crispml.services.audit import AuditService
from crispml.services.base import Progress, no_progress
from crispml.services.challenger_policy import ChallengerPolicyService
from crispml.services.jobs import JobService
from crispml.services.lifecycle import DEFAULT_THRESHOLD, LifecycleService
from crispml.services.model_cache import ModelCache
from crispml.services.monitoring import Monitoring
from crispml.services.operations import OperationsService
from crispml.services.privacy import PrivacyService
from crispml.services.retraining import RetrainService
from crispml.services.scoring import Estimation, LabelReport, ScoreResult, ScoringService, Verification
from crispml.services.sources import SourceService
from crispml.services.webhooks import WebhookService
from crispml.settings import Settings


class Crispml:
    """The nine methods, lineage and listings over one local store; close it (or use `with`) when done."""

    def __init__(self, container: Container) -> None:
        self.container = container

    # -- the services, for callers that need more than the nine methods -------------------------
    @property
    def settings(self) -> Settings:
        return self.container.settings

    @property
    def lifecycle(self) -> LifecycleService:
        return self.container.lifecycle

    @property
    def scoring(self) -> ScoringService:
        return self.container.scoring

    @property
    def operations(self) -> OperationsService:
        return self.container.operations

    @property
    def privacy(self) -> PrivacyService:
        """Column tags, pseudonymization, anonymization, erasure and retention."""
        return self.container.privacy

    @property
    def jobs(self) -> JobService:
        return self.container.jobs

    @property
    def audit(self) -> AuditService:
        """The audit log: `events(AuditQuery(...))` and `verify()`."""
        return self.container.audit

    @property
    def sources(self) -> SourceService:
        """The registered data sources: `add`, `list_sources`, `remove`, `tables`."""
        return self.container.sources

    @property
    def retrain(self) -> RetrainService:
        """Retraining policies: `set_policy`, `list_policies`, `remove_policy`, `check`, `triggers`."""
        return self.container.retrain

    @property
    def challenger_policy(self) -> ChallengerPolicyService:
        """This environment's challenger promotion policy: `check`, `proposals`, `approve`, `reject`."""
        return self.container.challenger_policy

    @property
    def webhooks(self) -> WebhookService:
        """Webhook targets: `add`, `list_targets`, `remove`, `deliveries`, `deliver_due`."""
        return self.container.webhooks

    @property
    def model_cache(self) -> ModelCache:
        """The models this process read into memory, and which scoring path each call took."""
        return self.container.model_cache

    @property
    def store(self) -> Storage:
        """The storage under the services (tests and benchmarks look into it)."""
        return self.container.store

    # -- the nine methods ------------------------------------------------------------------------
    def ingest(
        self,
        source: SourceSpec,
        *,
        name: str | None = None,
        slices: int = 12,
        percent_data: float = 1.0,
        seed: int = 42,
        target: str = "Class",
        key: str | None = None,
        time_column: str | None = None,
        project: str | None = None,
        tags: dict[str, str] | None = None,
        progress: Progress = no_progress,
    ) -> Dataset:
        """1. DataIngestion: see `IngestionService.ingest`."""
        return self.container.ingestion.ingest(
            source, name=name, slices=slices, percent_data=percent_data, seed=seed, target=target, key=key,
            time_column=time_column, project=project, tags=tags, progress=progress,
        )  # fmt: skip

    def prepare(
        self, dataset_ref: str, *, name: str | None = None, missing: str = "median", progress: Progress = no_progress
    ) -> Dataset:
        """2. DataPreparation: see `LifecycleService.prepare`."""
        return self.lifecycle.prepare(dataset_ref, name=name, missing=missing, progress=progress)

    def curate(
        self,
        dataset_ref: str,
        *,
        algorithm: str,
        frames: str | list[int] | None = None,
        name: str | None = None,
        progress: Progress = no_progress,
    ) -> Dataset:
        """3. DataCuration: see `LifecycleService.curate`."""
        return self.lifecycle.curate(dataset_ref, algorithm=algorithm, frames=frames, name=name, progress=progress)

    def train(
        self,
        dataset_ref: str,
        *,
        algorithm: str,
        frames: str | list[int] | None,
        name: str,
        weight: float = 1.0,
        params: dict[str, Any] | None = None,
        seed: int = 42,
        threshold: float = DEFAULT_THRESHOLD,
        progress: Progress = no_progress,
    ) -> ModelVersion:
        """4. ModelTraining: see `LifecycleService.train`."""
        return self.lifecycle.train(
            dataset_ref, algorithm=algorithm, frames=frames, name=name, weight=weight, params=params, seed=seed,
            threshold=threshold, progress=progress,
        )  # fmt: skip

    def report(
        self, model_ref: str, *, frames: str | list[int] | None = None, threshold: float | None = None
    ) -> dict[str, Any]:
        """5. ModelReport: see `LifecycleService.report`."""
        return self.lifecycle.report(model_ref, frames=frames, threshold=threshold)

    def persist(self, model_ref: str, *, alias: str | None = "champion") -> ModelVersion:
        """6. ModelPersist: see `LifecycleService.persist`."""
        return self.lifecycle.persist(model_ref, alias=alias)

    def score(
        self,
        model_ref: str,
        *,
        dataset: str | None = None,
        frames: str | list[int] | None = None,
        file: str | None = None,
        records: list[dict[str, Any]] | pd.DataFrame | None = None,
        table: pa.Table | None = None,
        idempotency_key: str | None = None,
        progress: Progress = no_progress,
    ) -> ScoreResult:
        """7. NewDataScore: see `ScoringService.score`."""
        return self.scoring.score(
            model_ref, dataset=dataset, frames=frames, file=file, records=records, table=table,
            idempotency_key=idempotency_key, progress=progress,
        )  # fmt: skip

    def label(
        self,
        *,
        file: str | None = None,
        records: list[dict[str, Any]] | pd.DataFrame | None = None,
        dataset: str | None = None,
        frames: str | list[int] | None = None,
        id_column: str = RECORD_ID,
        label_column: str = "label",
    ) -> LabelReport:
        """8. NewDataLabel: see `ScoringService.label`."""
        return self.scoring.label(
            file=file, records=records, dataset=dataset, frames=frames, id_column=id_column, label_column=label_column
        )

    def verify(
        self,
        model_ref: str,
        *,
        frames: str | list[int] | None = None,
        compare: str | None = None,
        level: float = 0.05,
    ) -> Verification:
        """9. NewDataReport: see `ScoringService.verify`."""
        return self.scoring.verify(model_ref, frames=frames, compare=compare, level=level)

    def estimate(
        self, model_ref: str, *, frames: str | list[int] | None = None, since: str | None = None, level: float = 0.99
    ) -> Estimation:
        """Performance before labels (CBPE): see `ScoringService.estimate`."""
        return self.scoring.estimate(model_ref, frames=frames, since=since, level=level)

    # -- lineage and listings --------------------------------------------------------------------
    def monitor(
        self,
        model_ref: str,
        *,
        frames: str | list[int] | None = None,
        since: str | None = None,
        dataset: str | None = None,
    ) -> Monitoring:
        """Drift against the training profile: see `MonitoringService.monitor`."""
        return self.container.monitoring.monitor(model_ref, frames=frames, since=since, dataset=dataset)

    def export_model(self, model_ref: str) -> bytes:
        """A model version as one signed bundle (zip bytes; see `crispml.services.promotion`)."""
        return self.container.promotion.export(model_ref)[0]

    def import_model(self, bundle: bytes | Path, *, alias: str | None = None) -> dict[str, Any]:
        """Import a signed bundle (its bytes or file); with `alias`, this environment's gates decide if it moves."""
        data = bundle.read_bytes() if isinstance(bundle, Path) else bundle
        return self.container.promotion.import_bundle(data, alias=alias)

    def promote(self, model_ref: str, *, to: str, alias: str = "champion") -> dict[str, Any]:
        """Export a model version and import it at the configured target environment `to`."""
        return self.container.promotion.promote(model_ref, to=to, alias=alias)

    def provenance(self, model_ref: str) -> dict[str, Any]:
        """Where a model version came from: made here, or imported (source environment, version, bundle sha256)."""
        return self.container.promotion.provenance(model_ref)

    def lineage(self, ref: str) -> list[LineageNode]:
        """The chain from a model (or dataset) back to its raw source, newest first."""
        return self.lifecycle.lineage(ref)

    def datasets(self, stage: Stage | None = None) -> list[Dataset]:
        """Every dataset version (optionally of one stage), oldest first."""
        return self.lifecycle.list_datasets(stage)

    def models(self, name: str | None = None) -> list[ModelVersion]:
        """Every model version (optionally of one name), by name and version."""
        return self.lifecycle.list_models(name)

    def close(self) -> None:
        """Finish background writes and release the store."""
        self.container.close()

    def __enter__(self) -> Crispml:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def connect(home: str | Path | None = None, database_url: str | None = None, user: str | None = None) -> Crispml:
    """Open crispml's store (environment settings, overridden by the arguments given)."""
    return Crispml(connect_container(home, database_url, user))
