"""Composition root: Settings in, a wired set of services out. Nothing connects at import time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crispml.errors import InvalidInput, Unavailable
from crispml.observability import metrics
from crispml.observability.logs import log_config
from crispml.observability.perf import PerfObserver, add_perf_observer, remove_perf_observer
from crispml.observability.tally import Folder
from crispml.services.access import AccessService
from crispml.services.audit import AuditService
from crispml.services.challenger_policy import ChallengerPolicyService
from crispml.services.ingestion import IngestionService
from crispml.services.jobs import JobService
from crispml.services.kpi_floor import FloorPolicy
from crispml.services.lifecycle import LifecycleService
from crispml.services.model_cache import model_cache
from crispml.services.monitoring import MonitoringService
from crispml.services.operations import OperationsService
from crispml.services.pipelines import PipelineService
from crispml.services.pool import DataPool
from crispml.services.privacy import PrivacyService
from crispml.services.promotion import PromotionService
from crispml.services.retraining import RetrainService
from crispml.services.scoring import ScoringService
from crispml.services.sources import SourceService
from crispml.services.watch import MonitorSchedule
from crispml.services.webhooks import WebhookService
from crispml.services.worker import Worker, handlers
from crispml.settings import Settings
from crispml.steps.drift import Levels
from crispml.storage.artifacts import ArtifactStore
from crispml.storage.bounded_read import ReadLimits
from crispml.storage.database import make_engine, revisions, upgrade
from crispml.storage.encryption import KeyRing
from crispml.storage.input_log import InputLog
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
        self.store = Store(
            self.engine, ArtifactStore(settings.artifact_root, keys), settings.user, settings.environment
        )
        self.model_cache = model_cache(self.store)
        """Models read into memory, shared by every service of this process."""
        limits = ReadLimits(settings.max_source_bytes, settings.max_source_rows)
        self._pool: Store | None = None
        self._pool_lock = threading.Lock()
        pool = DataPool(None if settings.pool_home is None else lambda: self._open_pool(keys), pool_location(settings),
                        settings.pool_rules, settings.read_pseudonym_key, settings.pool_k)  # fmt: skip
        self.ingestion = IngestionService(self.store, settings.user, limits, settings.source_timeout_s, pool)
        self.lifecycle = LifecycleService(self.store, settings.user, self.model_cache)
        self.sources = SourceService(self.store, settings.user, settings.resolved_database_url,
                                     settings.resolved_data_dir, settings.source_timeout_s)  # fmt: skip
        self.input_log = (
            InputLog(
                settings.input_log_root,
                retention_h=settings.input_log_retention_h,
                flush_s=settings.input_log_flush_s,
                buffer_rows=settings.input_log_buffer_rows,
                on_drop=metrics.input_log_dropped,
                keys=keys,
                on_prune=self._audit_input_log_retention,
            )
            if settings.input_log
            else None
        )
        """Inputs of records scored online, for drift monitoring (see `crispml.storage.input_log`)."""
        self.scoring = ScoringService(
            self.store, settings.user, self.model_cache, floor_policy(settings), self.input_log,
            shadow_share=settings.shadow_share, canary_share=settings.canary_share,
        )  # fmt: skip
        self.monitoring = MonitoringService(self.store, settings.user, self.model_cache, self.input_log, Levels(
            settings.monitor_psi_warning, settings.monitor_psi_alarm,
            settings.monitor_missing_warning, settings.monitor_missing_alarm, settings.monitor_ignored,
        ))  # fmt: skip
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
        self.privacy = PrivacyService(self.store, settings.user, settings.read_pseudonym_key, self.input_log)
        # Left-overs of writers killed mid-way are removed before anyone can trip over them.
        self.store.recover()
        self.influx = influx.start() if influx is not None else None
        """The exporter of perf records to InfluxDB, when `influx_url` is set (the server and local runs alike)."""
        self._perf_observer: PerfObserver | None = None
        self._metrics_folder: Folder | None = None
        """Folds the histogram tallies every second while metrics are observed (`observe_metrics`)."""
        self._stopping = threading.Event()
        self._loops: list[threading.Thread] = []

    def _open_pool(self, keys: KeyRing | None) -> Store:
        """The shared data pool's store, opened on first use and only read (never migrated or recovered)."""
        with self._pool_lock:  # the server's threads may ask at once: one store, one engine
            if self._pool is None:
                self._pool = open_pool(self.settings, keys)
            return self._pool

    def _audit_input_log_retention(self, hours: list[str]) -> None:
        """The input log's retention deleted these hours (model version id/hour): an audited change."""
        with self.store.transaction() as uow:
            after = {"hours_deleted": hours, "retention_h": self.settings.input_log_retention_h}
            uow.audit.append(
                action="input-log.retention", resource="input-log", principal=self.settings.user, after=after
            )

    def observe_metrics(self) -> None:
        """Feed the Prometheus metrics (`crispml.observability.metrics`) from this container's perf
        records and group commits until it closes: a server's, not a one-shot CLI call's."""
        if self._perf_observer is None:
            self._perf_observer = metrics.perf_observer()
            add_perf_observer(self._perf_observer)
            self.store.group_commit.observer = metrics.group_commit_observer()
            self._metrics_folder = Folder().start()

    def watch_kpi_floor(self) -> None:
        """Work the fallback's KPI floor out now and every `fallback_check_s` until this container closes
        (a server's, not a one-shot CLI call's); without a floor, nothing."""
        if self.scoring.floor.policy is None:
            return
        self.scoring.floor.check_quietly()

        def watch() -> None:
            while not self._stopping.wait(self.settings.fallback_check_s):
                self.scoring.floor.check_quietly()

        threading.Thread(target=watch, name="crispml-kpi-floor", daemon=True).start()

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
        return Worker(
            jobs,
            self.access,
            handlers(self.lifecycle, self.ingestion, self.scoring, self.pipelines, self.retrain),
            concurrency,
            self.settings.job_lease_s,
        )

    @cached_property
    def pipelines(self) -> PipelineService:
        """Pipelines as code: a declared cycle run as one durable job (see `crispml.services.pipelines`)."""
        return PipelineService(self.store, self.settings.user, self.ingestion, self.lifecycle, self.scoring,
                               lambda: self.jobs, self.settings.resolved_data_dir)  # fmt: skip

    @cached_property
    def retrain(self) -> RetrainService:
        """Retraining policies, their evaluator and triggers (see `crispml.services.retraining`)."""
        return RetrainService(self.store, self.settings.user, lambda: self.pipelines, lambda: self.jobs, self.scoring,
                              self.monitoring)  # fmt: skip

    @cached_property
    def monitor_schedule(self) -> MonitorSchedule:
        """The drift and estimate metrics of the champions, refreshed (see `crispml.services.watch`)."""
        return MonitorSchedule(self.store, self.monitoring, self.scoring, self.settings.monitor_refresh_window)

    @cached_property
    def webhooks(self) -> WebhookService:
        """Webhook targets and their signed deliveries (see `crispml.services.webhooks`)."""
        s = self.settings
        return WebhookService(self.store, s.user, s.webhook_max_attempts, s.webhook_backoff_s, s.webhook_timeout_s)

    @cached_property
    def challenger_policy(self) -> ChallengerPolicyService:
        """This environment's challenger promotion policy (see `crispml.services.challenger_policy`)."""
        s = self.settings
        return ChallengerPolicyService(self.store, s.user, self.model_cache, environment=s.environment,
                                       policy=s.challenger_policy, gates=s.promotion_gates)  # fmt: skip

    def start_background(self) -> None:
        """A server's loops: the retraining evaluator and the monitoring refresh (when their intervals are set)
        and the webhook dispatcher; stopped by `close`."""
        loops: list[tuple[str, Callable[[threading.Event, float], None], float]] = [
            ("crispml-webhooks", self.webhooks.serve, self.settings.webhook_poll_s)
        ]
        if self.settings.retrain_check_interval_s > 0:
            loops.append(("crispml-retrain", self._evaluate, self.settings.retrain_check_interval_s))
        if self.settings.monitor_refresh_interval_s > 0:
            loops.append(("crispml-monitor", self.monitor_schedule.serve, self.settings.monitor_refresh_interval_s))
        for name, serve, every in loops:
            thread = threading.Thread(target=serve, args=(self._stopping, every), name=name, daemon=True)
            thread.start()
            self._loops.append(thread)

    def _evaluate(self, stopping: threading.Event, interval_s: float) -> None:
        """The one evaluator loop: the retraining policies, then the challenger promotion policy."""
        self.retrain.serve(stopping, interval_s, then=self.challenger_policy.check_quietly)

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
        self._stopping.set()
        for thread in self._loops:
            thread.join(timeout=30)
        if self._perf_observer is not None:
            remove_perf_observer(self._perf_observer)
            self.store.group_commit.observer = self._perf_observer = None
        if self._metrics_folder is not None:
            self._metrics_folder.close()
        if "jobs" in self.__dict__:
            self.jobs.shutdown()
        self.scoring.close()  # the shadow scores still queued
        self.store.flush()  # perf records handed over without waiting
        if self.input_log is not None:
            self.input_log.close()  # after the last scores committed: their inputs are written too
        if self.influx is not None:
            self.influx.close()  # after the jobs, whose last records it still sends
        self.store.close()
        self.engine.dispose()
        if self._pool is not None:
            self._pool.close()
            self._pool.engine.dispose()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def floor_policy(settings: Settings) -> FloorPolicy | None:
    """The fallback's KPI floor the CRISPML_FALLBACK_* settings declare; None without `fallback_kpi`."""
    if settings.fallback_kpi is None:
        return None
    return FloorPolicy(settings.fallback_kpi, settings.fallback_floor, settings.fallback_frames,
                       settings.fallback_min_labels)  # fmt: skip


def pool_location(settings: Settings) -> str:
    """Where the shared data pool is, for lineage and messages: its home and database, the password masked."""
    if settings.pool_home is None:
        return ""
    if settings.pool_database_url is None:
        return str(settings.pool_home)
    from sqlalchemy.engine import make_url

    return f"{settings.pool_home} ({make_url(settings.pool_database_url).render_as_string(hide_password=True)})"


def open_pool(settings: Settings, keys: KeyRing | None) -> Store:
    """The store of the shared data pool (`CRISPML_POOL_HOME`, `CRISPML_POOL_DATABASE_URL`), to read from.

    It must be a crispml store at this crispml's schema revision: the pool is never migrated from here
    (an empty or missing database is refused, never created). Its files are decrypted with this
    environment's keys (`CRISPML_ENCRYPTION_KEY_FILE` must list the pool's key when its files are encrypted).
    """
    assert settings.pool_home is not None
    home = settings.pool_home
    url = settings.pool_database_url or f"sqlite:///{home / 'crispml.db'}"
    where = pool_location(settings)
    if not home.is_dir() or (settings.pool_database_url is None and not (home / "crispml.db").is_file()):
        raise InvalidInput(f"the data pool {where} is not a crispml store (no crispml.db there)",
                           field="CRISPML_POOL_HOME")  # fmt: skip
    engine = make_engine(url)
    try:
        current, head = revisions(engine)
    except Exception as exc:
        engine.dispose()
        raise Unavailable(f"the data pool's database {where} does not answer: {type(exc).__name__}") from None
    if current != head:
        engine.dispose()
        raise InvalidInput(
            f"the data pool {where} is at schema revision {current or 'none (empty)'}, this crispml reads {head}: "
            "run `crispml db upgrade` on the pool",
            field="CRISPML_POOL_HOME",
        )
    return Store(engine, ArtifactStore(home / "artifacts", keys), settings.user, settings.environment)


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
        writer=settings.observability_writer,
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
                      settings.log_file_backups, settings.observability_writer)  # fmt: skip


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
