"""Composition root: Settings in, a wired set of services out. Nothing connects at import time."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path

from crispml.services.access import AccessService
from crispml.services.audit import AuditService
from crispml.services.jobs import JobService
from crispml.services.lifecycle import LifecycleService
from crispml.services.model_cache import model_cache
from crispml.services.operations import OperationsService
from crispml.services.privacy import PrivacyService
from crispml.services.scoring import ScoringService
from crispml.services.sources import SourceService
from crispml.settings import Settings
from crispml.storage.artifacts import ArtifactStore
from crispml.storage.bounded_read import ReadLimits
from crispml.storage.database import make_engine, upgrade
from crispml.storage.encryption import KeyRing
from crispml.storage.store import Store

log = logging.getLogger("crispml.startup")


class Container:
    """Everything one process needs: the store and the services over it.

    Python users get the nine methods from `crispml.connect()` (see `crispml.local.Crispml`).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # A bad key is refused before anything is created or migrated.
        secret = settings.encryption_key.get_secret_value() if settings.encryption_key else None
        keys = KeyRing.load(secret, settings.encryption_key_file)
        settings.home.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(settings.resolved_database_url)
        database = self.engine.url.render_as_string(hide_password=True)
        log.info("database %s", database, extra={"database": database})
        before, after = upgrade(self.engine)
        if before == after:
            log.info("migrations: at revision %s", after, extra={"revision": after})
        else:
            log.info("migrations: upgraded from %s to %s", before or "an empty database", after,
                     extra={"revision": after, "upgraded_from": before})  # fmt: skip
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
        self.operations = OperationsService(self.store, settings.user, self.model_cache)
        self.audit = AuditService(self.store, settings.user)
        self.access = AccessService(self.store, settings.user)
        """API users and key checks (see `crispml.services.access`)."""
        self.privacy = PrivacyService(self.store, settings.user, settings.read_pseudonym_key)
        # Left-overs of writers killed mid-way are removed before anyone can trip over them.
        self.store.recover()

    @cached_property
    def jobs(self) -> JobService:
        """Background jobs; created on first use, so the CLI never starts worker threads."""
        return JobService(
            self.store,
            self.settings.user,
            workers=self.settings.job_workers,
            max_wait_s=self.settings.max_wait_s,
            time_limits_s=self.settings.job_time_limits,
        )

    def close(self) -> None:
        if "jobs" in self.__dict__:
            self.jobs.shutdown()
        self.store.flush()  # perf records handed over without waiting
        self.store.close()
        self.engine.dispose()

    def __enter__(self) -> Container:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


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
