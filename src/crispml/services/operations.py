"""Operating the service: performance records and their medians, artifact housekeeping, readiness."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crispml.domain import JobStatus, PerfRecord
from crispml.observability import metrics
from crispml.ports import Storage
from crispml.services.base import Service
from crispml.services.model_cache import ModelCache

log = logging.getLogger("crispml.operations")


@dataclass(frozen=True)
class PerfSummary:
    method: str
    calls: int
    errors: int
    median_duration_s: float
    median_cpu_s: float
    median_rows_in: float | None
    max_peak_rss_mb: float


class OperationsService(Service):
    def __init__(
        self,
        store: Storage,
        user: str,
        models: ModelCache,
        *,
        environment: str = "dev",
        degraded: Callable[[], dict[str, str]] = dict,
    ) -> None:
        super().__init__(store, user)
        self._cache = models
        self.environment = environment
        """Which environment this deployment is (dev, qa, prod)."""
        self.degraded = degraded
        """Model references answered by their fallback version now, each with the reason."""
        self.warmed: dict[str, str] | None = None
        """What the last `warm_up` did per model reference; None before any."""

    def warm_up(self, limit: int) -> dict[str, str]:
        """Read and verify the models that up to `limit` aliases name (the most recently set first), so
        that their first score requests are served from memory; returns what happened per reference.

        A model that cannot be read is logged and reported, not raised: the service still starts, and
        that model's score requests name the problem as they would have without a warm-up.
        """
        outcomes: dict[str, str] = {}
        loaded, all_started = 0, time.perf_counter()
        with self.store.reading() as uow:
            models = [(ref, uow.models.get(ref)) for ref in (uow.models.alias_refs(limit) if limit > 0 else [])]
        for ref, model in models:
            started = time.perf_counter()
            try:
                with self.store.reading() as uow:
                    uow.audit.check_model(model)
                self._cache.scorer(model.artifact_sha256, model.artifact_format, 1, model.twin_sha256)
            except Exception as exc:  # one unreadable model must not keep the others out
                outcomes[ref] = f"not loaded: {type(exc).__name__}: {exc}"[:300]
                log.warning("warm-up: %s -> %s %s", ref, model.ref, outcomes[ref],
                            extra={"model": ref, "version": model.ref, "error": outcomes[ref]})  # fmt: skip
                continue
            seconds = time.perf_counter() - started
            loaded += 1
            outcomes[ref] = f"{model.ref} loaded in {seconds:.2f} s"
            log.info("warm-up: %s -> %s in %.2f s", ref, model.ref, seconds,
                     extra={"model": ref, "version": model.ref, "seconds": round(seconds, 3)})  # fmt: skip
        log.info("warm-up: %d of %d models in memory in %.2f s", loaded, len(models), time.perf_counter() - all_started)
        self.warmed = outcomes
        return outcomes

    def perf(self, method: str | None = None, limit: int = 1000) -> tuple[list[PerfRecord], list[PerfSummary]]:
        """The newest perf records (optionally of one method) and per-method medians over them."""
        self.store.flush()  # scoring hands its records over without waiting: include them
        with self.store.reading() as uow:
            records = uow.perf.newest(method, limit)
        summaries = []
        for name in sorted({r.method for r in records}):
            mine = [r for r in records if r.method == name]
            rows = [r.rows_in for r in mine if r.rows_in is not None]
            summaries.append(
                PerfSummary(
                    method=name,
                    calls=len(mine),
                    errors=sum(1 for r in mine if r.outcome != "ok"),
                    median_duration_s=statistics.median(r.duration_s for r in mine),
                    median_cpu_s=statistics.median(r.cpu_s for r in mine),
                    median_rows_in=statistics.median(rows) if rows else None,
                    max_peak_rss_mb=max(r.peak_rss_mb for r in mine),
                )
            )
        return records, summaries

    def prometheus_text(self) -> bytes:
        """The Prometheus text exposition `GET /metrics` answers: the counters and histograms of this
        process (of every worker, in multiprocess mode), then the model aliases (of the acting principal's
        projects) and jobs by state, read from the database now, and the references this process answers
        by their fallback."""
        with self.store.reading() as uow:
            aliases = [metrics.AliasInfo(*row) for row in uow.models.aliased()]
            jobs = uow.jobs.count_by_status()
        states = {status.value: jobs.get(status.value, 0) for status in JobStatus}
        return metrics.exposition() + metrics.state_exposition(aliases, states, self.degraded())

    def readiness(self) -> dict[str, dict[str, Any]]:
        """Whether the database answers and the artifact folder is writable, each with its error; and
        what the start-up warm-up read into memory, when there was one."""
        checks: dict[str, dict[str, Any]] = {}
        try:
            with self.store.reading() as uow:
                uow.labels.count()
            checks["database"] = {"ok": True}
        except Exception as exc:  # readiness reports, it does not raise
            checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        try:
            self.store.check_writable()
            checks["artifacts"] = {"ok": True}
        except OSError as exc:
            checks["artifacts"] = {"ok": False, "error": str(exc)[:300]}
        if self.warmed is not None:
            # Informative: a model that could not be read fails its own score requests, not readiness.
            checks["models"] = {"ok": True, "warmed": self.warmed}
        return checks
