"""Repository of durable jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from crispml.domain import Job, JobStatus
from crispml.errors import NotFound
from crispml.storage import schema as t

_ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_QUEUED = JobStatus.QUEUED.value
_INPROCESS, _WORKERS = "inprocess", "workers"


class JobRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, job: Job) -> None:
        self.connection.execute(
            insert(t.jobs).values(
                id=job.id,
                kind=job.kind,
                status=job.status.value,
                params=job.params,
                phase=job.phase,
                progress=job.progress,
                cancel_requested=False,
                owner=job.owner,
                created_by=job.created_by,
                created_at=job.created_at,
                runner=job.runner,
                request_id=job.request_id,
            )
        )

    def get(self, job_id: str) -> Job:
        row = self.connection.execute(select(t.jobs).where(t.jobs.c.id == job_id)).mappings().first()
        if row is None:
            raise NotFound(f"job {job_id!r} does not exist")
        return _job(row)

    def list_jobs(self, status: JobStatus | None = None, limit: int = 100, offset: int = 0,
                  created_by: str | None = None) -> list[Job]:  # fmt: skip
        query = select(t.jobs).order_by(t.jobs.c.created_at.desc()).limit(limit).offset(offset)
        if status is not None:
            query = query.where(t.jobs.c.status == status.value)
        if created_by is not None:
            query = query.where(t.jobs.c.created_by == created_by)
        return [_job(row) for row in self.connection.execute(query).mappings()]

    def update(self, job_id: str, **values: Any) -> None:
        if "status" in values and isinstance(values["status"], JobStatus):
            values["status"] = values["status"].value
        self.connection.execute(update(t.jobs).where(t.jobs.c.id == job_id).values(**values))

    def active(self) -> list[Job]:
        """Queued and running jobs of the in-process runner (workers' jobs are watched by their leases)."""
        query = select(t.jobs).where(t.jobs.c.status.in_(_ACTIVE), t.jobs.c.runner == _INPROCESS)
        return [_job(row) for row in self.connection.execute(query).mappings()]

    def claim(self, worker: str, kinds: Sequence[str], at: datetime) -> Job | None:
        """Take the oldest queued workers' job of one of `kinds` for `worker`, or None when none waits.

        One statement: on PostgreSQL the candidate row is locked with SKIP LOCKED, so concurrent
        workers each take a different job without waiting on one another; SQLite serialises writers,
        and `status = 'queued'` in the UPDATE itself makes a second claim of the same row a no-op.
        """
        candidate = (
            select(t.jobs.c.id)
            .where(t.jobs.c.status == _QUEUED, t.jobs.c.runner == _WORKERS, t.jobs.c.kind.in_(kinds))
            .order_by(t.jobs.c.created_at, t.jobs.c.id)
            .limit(1)
        )
        if self.connection.dialect.name == "postgresql":
            candidate = candidate.with_for_update(skip_locked=True)
        claimed = (
            update(t.jobs)
            .where(t.jobs.c.id == candidate.scalar_subquery(), t.jobs.c.status == _QUEUED)
            .values(
                status=JobStatus.RUNNING.value,
                claimed_by=worker,
                attempts=t.jobs.c.attempts + 1,
                started_at=at,
                heartbeat_at=at,
                owner=worker,
            )
            .returning(*t.jobs.c)
        )
        row = self.connection.execute(claimed).mappings().first()
        return None if row is None else _job(row)

    def renew(self, worker: str, job_ids: Sequence[str], at: datetime) -> set[str]:
        """Renew `worker`'s leases on `job_ids`; returns the ids it still holds (a job reaped meanwhile drops out)."""
        if not job_ids:
            return set()
        held = self._held(worker, job_ids)
        self.connection.execute(update(t.jobs).where(held).values(heartbeat_at=at))
        return set(self.connection.scalars(select(t.jobs.c.id).where(held)))

    def finish_claimed(self, job_id: str, worker: str, **values: Any) -> bool:
        """End a job `worker` still holds; False (and nothing written) when its lease was lost."""
        if isinstance(values.get("status"), JobStatus):
            values["status"] = values["status"].value
        done = self.connection.execute(update(t.jobs).where(self._held(worker, [job_id])).values(**values))
        return bool(done.rowcount)

    def release(self, job_id: str, worker: str) -> bool:
        """Put a job `worker` holds back in the queue, as if never claimed (a worker asked to stop)."""
        done = self.connection.execute(
            update(t.jobs)
            .where(self._held(worker, [job_id]))
            .values(
                status=_QUEUED,
                claimed_by=None,
                attempts=t.jobs.c.attempts - 1,
                started_at=None,
                phase=None,
                progress=0.0,
            )
        )
        return bool(done.rowcount)

    def reap(self, stale_before: datetime, max_attempts: int, at: datetime) -> dict[str, int]:
        """Workers' running jobs whose lease ran out (heartbeat before `stale_before`): requeued while
        they have attempts left, else ended interrupted; a cancelled one ends cancelled. Each UPDATE
        re-checks the staleness, so a lease renewed meanwhile keeps its job. Returns counts per outcome."""
        stale = and_(
            t.jobs.c.runner == _WORKERS,
            t.jobs.c.status == JobStatus.RUNNING.value,
            t.jobs.c.heartbeat_at < stale_before,
        )
        cancelled = self.connection.execute(
            update(t.jobs)
            .where(stale, t.jobs.c.cancel_requested.is_(True))
            .values(status=JobStatus.CANCELLED.value, phase="cancelled", claimed_by=None, finished_at=at)
        ).rowcount
        requeued = self.connection.execute(
            update(t.jobs)
            .where(stale, t.jobs.c.attempts < max_attempts)
            .values(status=_QUEUED, claimed_by=None, started_at=None, phase=None, progress=0.0)
        ).rowcount
        error = {
            "title": "Interrupted",
            "detail": f"the worker running this job stopped before it ended, {max_attempts} times",
        }
        interrupted = self.connection.execute(
            update(t.jobs)
            .where(stale)
            .values(status=JobStatus.INTERRUPTED.value, claimed_by=None, finished_at=at, error=error)
        ).rowcount
        return {"cancelled": cancelled, "requeued": requeued, "interrupted": interrupted}

    @staticmethod
    def _held(worker: str, job_ids: Sequence[str]) -> Any:
        return and_(t.jobs.c.id.in_(job_ids), t.jobs.c.claimed_by == worker, t.jobs.c.status == JobStatus.RUNNING.value)

    def count_by_status(self) -> dict[str, int]:
        """How many jobs the table holds in each status (statuses without jobs left out)."""
        query = select(t.jobs.c.status, func.count()).group_by(t.jobs.c.status)
        return {str(status): int(count) for status, count in self.connection.execute(query)}

    def last_heartbeat(self, job_id: str) -> datetime | None:
        return self.connection.scalar(select(t.jobs.c.heartbeat_at).where(t.jobs.c.id == job_id))


def _job(row: Any) -> Job:
    return Job(
        id=row["id"],
        kind=row["kind"],
        status=JobStatus(row["status"]),
        params=row["params"],
        phase=row["phase"],
        progress=row["progress"],
        result=row["result"],
        error=row["error"],
        cancel_requested=bool(row["cancel_requested"]),
        owner=row["owner"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        runner=row["runner"],
        claimed_by=row["claimed_by"],
        attempts=row["attempts"],
        request_id=row["request_id"],
    )
