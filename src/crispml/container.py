"""Composition root: Settings in, a wired set of services out. Nothing connects at import time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crispml.errors import Unavailable
from crispml.observability import metrics
from crispml.observability.logs import log_config
from crispml.observability.perf import PerfObserver, add_perf_observer, remove_perf_observer
from crispml.services.access import AccessService
from crispml.services.audit import AuditService
from crispml.services.jobs import JobService
from crispml.services.lifecycle import LifecycleService
from crispml.services.model_cache import model_cache
from crispml.services.operations import OperationsService
from crispml.services.pipelines import PipelineService
from crispml.services.privacy import PrivacyService
from crispml.services.promotion import PromotionService
from crispml.services.scoring import ScoringService
from crispml.services.sources import SourceService
from crispml.services.worker import Worker, handlers
from crispml.settings import Settings
from crispml.storage.artifacts import ArtifactStore
from crispml.storage.bounded_read import ReadLimits
from crispml.storage.database import make_engine, revisions, upgrade
from crispml.storage.encryption import KeyRing
from crispml.storage.store import Store

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from crispml.observability.influx import InfluxExporter

log = logging.getLogger("crispml.startup")


class Container:
    """Everything one process needs: the store and the services over it.

    Python users get the nine methods from `crispml.connect()` (see `crispml.local.Crispml`).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # A bad key (or InfluxDB token file) is refused before anything is created or migrated.
        influx = influx_exporter(settings)
        secret = settings.encryption_key.get_secret_value() if settings.encryption_key else None
        keys = KeyRing.load(secret, settings.encryption_key_file)
        settings.home.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.resolved_database_url)
        if settings.migrate_on_start:
            _log_schema(self.engine, *upgrade(self.engine))
        else:
            revision = _require_current_schema(self.engine)
            _log_schema(self.engine, revision, revision)
        self.store = Store(self.engine, ArtifactStore(settings.artifact_root, keys), settings.user)
        self.model_cache = model_cache(self.store)
        """Models read into memory, shared by every service of this process."""
        limits = ReadLimits(settings.max_source_bytes, settings.max_source_rows)
        self.lifecycle = LifecycleService(
            self.store, settings.user, self.model_cache, limits, settings.source_timeout_s
        )
        self.sources = SourceService(self.store, settings.user, settings.resolved_database_url,
                                     settings.resolved_data_dir, settings.source_timeout_s)  # fmt: skip
        self.scoring = ScoringService(self.store, settings.user, self.model_cache)
        self.operations = OperationsService(
            self.store,
            settings.user,
            self.model_cache,
            environment=settings.environment,
            degraded=self.scoring.degraded,
        )
        self.audit = AuditService(self.store, settings.user)
        self.access = AccessService(self.store, settings.user)
        """API users and key checks (see `crispml.services.access`)."""
        self.privacy = PrivacyService(self.store, settings.user, settings.read_pseudonym_key)
        # Left-overs of writers killed mid-way are removed before anyone can trip over them.
        self.store.recover()
        self.influx = influx.start() if influx is not None else None
        """The exporter of perf records to InfluxDB, when `influx_url` is set (the server and local runs alike)."""
        self._perf_observer: PerfObserver | None = None

    def observe_metrics(self) -> None:
        """Feed the Prometheus metrics (`crispml.observability.metrics`) from this container's perf
        records and group commits until it closes: a server's, not a one-shot CLI call's."""
        if self._perf_observer is None:
            self._perf_observer = metrics.perf_observer()
            add_perf_observer(self._perf_observer)
            self.store.group_commit.observer = metrics.observe_group_commit

    @cached_property
    def jobs(self) -> JobService:
        """Background jobs; created on first use, so the CLI never starts worker threads."""
        return JobService(
            self.store,
            self.settings.user,
            workers=self.settings.job_workers,
            max_wait_s=self.settings.max_wait_s,
            time_limits_s=self.settings.job_time_limits,
            runner=self.settings.job_runner,
        )

    def worker(self, concurrency: int) -> Worker:
        """A `crispml worker` over this container's store: claims the jobs the API queued and runs them."""
        # Its own JobService: the worker runs claimed jobs on its own threads, never queues any.
        jobs = JobService(self.store, self.settings.user, workers=1, time_limits_s=self.settings.job_time_limits)
        return Worker(jobs, self.access, handlers(self.lifecycle), concurrency, self.settings.job_lease_s)

    @cached_property
    def pipelines(self) -> PipelineService:
        """Pipelines as code: a declared cycle run as one durable job (see `crispml.services.pipelines`)."""
        return PipelineService(self.store, self.settings.user, self.lifecycle, self.scoring, lambda: self.jobs,
                               self.settings.resolved_data_dir)  # fmt: skip

    @cached_property
    def promotion(self) -> PromotionService:
        """Model versions exported as signed bundles, imported and promoted (see `crispml.services.promotion`)."""
        key = self.settings.promotion_key
        return PromotionService(self.store, self.settings.user, self.lifecycle, self.model_cache,
                                environment=self.settings.environment,
                                key=None if key is None else key.get_secret_value().encode(),
                                targets=self.settings.promotion_targets,
                                gates=self.settings.promotion_gates)  # fmt: skip

    def close(self) -> None:
        if self._perf_observer is not None:
            remove_perf_observer(self._perf_observer)
            self.store.group_commit.observer = self._perf_observer = None
        if "jobs" in self.__dict__:
            self.jobs.shutdown()
        self.store.flush()  # perf records handed over without waiting
        if self.influx is not None:
            self.influx.close()  # after the jobs, whose last records it still sends
        self.store.close()
        self.engine.dispose()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def influx_exporter(settings: Settings) -> InfluxExporter | None:
    """An exporter of every perf record to the configured InfluxDB (to start); None when none is configured."""
    if settings.influx_url is None:
        return None
    # Imported only when used: the CLI's start-up pays nothing for an exporter it does not run.
    from crispml.observability.influx import InfluxExporter, InfluxTarget

    target = InfluxTarget(
        url=settings.influx_url,
        database=settings.influx_database,
        bucket=settings.influx_bucket,
        org=settings.influx_org,
        token=settings.read_influx_token(),
        measurement=settings.influx_measurement,
    )
    return InfluxExporter(
        target,
        batch_size=settings.influx_batch_size,
        flush_s=settings.influx_flush_s,
        buffer_size=settings.influx_buffer_size,
        timeout_s=settings.influx_timeout_s,
    )


@dataclass(frozen=True)
class Migration:
    """What `crispml db upgrade` did: the schema revision before (None: an empty database) and after."""

    before: str | None
    after: str | None


def migrate(settings: Settings) -> Migration:
    """Bring the database's schema to the newest migration and nothing else (no services, no recovery):
    the one step a deployment runs once before its processes start."""
    settings.home.mkdir(parents=True, exist_ok=True)  # the embedded SQLite database lives there
    engine = make_engine(settings.resolved_database_url)
    try:
        migration = Migration(*upgrade(engine))
        _log_schema(engine, migration.before, migration.after)
        return migration
    finally:
        engine.dispose()


def logging_config(settings: Settings) -> dict[str, Any]:
    """The `logging.config.dictConfig` of a server or worker process, as the CRISPML_LOG_* settings say."""
    return log_config(settings.log_format, settings.log_level, settings.log_file, settings.log_file_max_bytes,
                      settings.log_file_backups)  # fmt: skip


def _log_schema(engine: Engine, before: str | None, revision: str | None) -> None:
    """The start-up lines of the database (its URL, the password masked) and its schema's revision."""
    database = engine.url.render_as_string(hide_password=True)
    log.info("database %s", database, extra={"database": database})
    if before == revision:
        log.info("migrations: at revision %s", revision, extra={"revision": revision})
    else:
        log.info("migrations: upgraded from %s to %s", before or "an empty database", revision,
                 extra={"revision": revision, "upgraded_from": before})  # fmt: skip


def _require_current_schema(engine: Engine) -> str | None:
    """The schema's revision, when it is the newest; else Unavailable naming the command that migrates."""
    current, head = revisions(engine)
    if current != head:
        raise Unavailable(
            f"the database schema is at revision {current or 'none (empty)'}, this crispml needs {head}; "
            "run `crispml db upgrade` once (CRISPML_MIGRATE_ON_START is off)"
        )
    return current


def connect(home: str | Path | None = None, database_url: str | None = None, user: str | None = None) -> Container:
    """A container over crispml's store (environment settings, overridden by the arguments given).

    For adapters (the CLI); Python users call `crispml.connect()`, which wraps this one.
    """
    overrides: dict[str, object] = {}
    if home is not None:
        overrides["home"] = Path(home)
    if database_url is not None:
        overrides["database_url"] = database_url
    if user is not None:
        overrides["user"] = user
    return Container(Settings(**overrides))  # type: ignore[arg-type]
