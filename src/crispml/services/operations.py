"""Operating the service: performance records and their medians, artifact housekeeping."""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass
from typing import Any

from crispml.domain import PerfRecord
from crispml.services.base import Service


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
    def perf(self, method: str | None = None, limit: int = 1000) -> tuple[list[PerfRecord], list[PerfSummary]]:
        """The newest perf records (optionally of one method) and per-method medians over them."""
        self.store.group_commit.flush()  # scoring hands its records over without waiting: include them
        with self.store.reading() as repo:
            records = repo.list_perf(method, limit)
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

    def recover_artifacts(self) -> int:
        """Delete temporaries of dead writers and unreferenced artifacts; returns how many went."""
        return self.store.recover()

    def readiness(self) -> dict[str, dict[str, Any]]:
        """Whether the database answers and the artifact folder is writable, each with its error."""
        checks: dict[str, dict[str, Any]] = {}
        try:
            with self.store.transaction() as repo:
                repo.count_labels()
            checks["database"] = {"ok": True}
        except Exception as exc:  # readiness reports, it does not raise
            checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
        try:
            self.store.artifacts.root.mkdir(parents=True, exist_ok=True)
            probe = self.store.artifacts.root / f".ready-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink()
            checks["artifacts"] = {"ok": True}
        except OSError as exc:
            checks["artifacts"] = {"ok": False, "error": str(exc)[:300]}
        return checks
