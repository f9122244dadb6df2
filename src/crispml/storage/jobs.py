"""Repository of durable jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from crispml.domain import Job, JobStatus
from crispml.errors import NotFound
from crispml.storage import schema as t

_ACTIVE = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


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
        query = select(t.jobs).where(t.jobs.c.status.in_(_ACTIVE))
        return [_job(row) for row in self.connection.execute(query).mappings()]

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
        request_id=row["request_id"],
    )
