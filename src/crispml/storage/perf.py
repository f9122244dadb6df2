"""Repository of perf records: one row per service call (method, rows, duration, memory, outcome)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from crispml.domain import Outcome, PerfRecord
from crispml.storage import schema as t
from crispml.storage.bulk_insert import DriverInsert

_INSERT_PERF = DriverInsert(t.perf_records)


class PerfRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, record: PerfRecord) -> None:
        self.add_many([record])

    def add_many(self, records: Sequence[PerfRecord]) -> None:
        _INSERT_PERF(
            self.connection,
            [
                {
                    "method": record.method,
                    "started_at": record.started_at,
                    "duration_s": record.duration_s,
                    "rows_in": record.rows_in,
                    "rows_out": record.rows_out,
                    "peak_rss_mb": record.peak_rss_mb,
                    "cpu_s": record.cpu_s,
                    "gc_runs": record.gc_runs,
                    "outcome": record.outcome.value,
                    "dataset": record.dataset,
                    "model": record.model,
                    "error": record.error,
                    "pid": record.pid,
                    "request_id": record.request_id,
                }
                for record in records
            ],
        )

    def newest(self, method: str | None = None, limit: int = 1000) -> list[PerfRecord]:
        query = select(t.perf_records).order_by(t.perf_records.c.id.desc()).limit(limit)
        if method is not None:
            query = query.where(t.perf_records.c.method == method)
        return [
            PerfRecord(
                method=row["method"],
                started_at=row["started_at"],
                duration_s=row["duration_s"],
                rows_in=row["rows_in"],
                rows_out=row["rows_out"],
                peak_rss_mb=row["peak_rss_mb"],
                cpu_s=row["cpu_s"],
                gc_runs=row["gc_runs"],
                outcome=Outcome(row["outcome"]),
                dataset=row["dataset"],
                model=row["model"],
                error=row["error"],
                pid=row["pid"],
                request_id=row["request_id"],
            )
            for row in self.connection.execute(query).mappings()
        ]
