"""Durable jobs: long calls run on a worker thread while their state lives in the database.

A job is queued, runs, and ends succeeded, failed, cancelled or interrupted. Progress updates are
written at most twice a second and double as the job's heartbeat and its cancellation check, so a
cancel from any process takes effect at the job's next progress report. At start-up, jobs whose process
is gone (same host, dead pid) or whose heartbeat went stale are marked interrupted: never left running.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from crispml.domain import Job, JobStatus
from crispml.errors import Conflict, CrispmlError, NotFound
from crispml.identity import request_id
from crispml.ports import Storage
from crispml.processes import identity, may_be_running
from crispml.services.base import Progress, Service, new_id, now
from crispml.services.visibility import sees_all_jobs

Work = Callable[[Progress], dict[str, Any]]
log = logging.getLogger("crispml.jobs")

_PROGRESS_INTERVAL_S = 0.5
_PROGRESS_LOG_INTERVAL_S = 10.0
"""A job's progress is logged when its phase changes, else at most this often."""
_STALE_AFTER = timedelta(minutes=10)
_DEFAULT_LIMIT_S = 3600.0


DEFAULT_TIME_LIMITS_S = {"ingest": 3600.0, "train": 4 * 3600.0, "score": 3600.0, "pipeline": 6 * 3600.0,
                         "retrain": 6 * 3600.0}  # fmt: skip
"""How long a job of each kind may run (CRISPML_JOB_TIME_LIMITS overrides them; other kinds: an hour)."""


class JobCancelled(Exception):
    """Raised inside a job's progress callback once cancellation was requested."""


class JobTimedOut(Exception):
    """Raised inside a job's progress callback once the job ran past its kind's time limit."""


class JobReleased(Exception):
    """Raised inside a worker's job at a progress report once the worker lost its lease or was asked to
    stop: before anything the job staged commits, so it stores nothing and may run again elsewhere."""


WORKER_KINDS = ("train", "ingest", "score", "pipeline", "retrain")
"""Kinds of job a `crispml worker` runs (rebuilt from the job's params): every durable job."""


class JobService(Service):
    def __init__(
        self,
        store: Storage,
        user: str,
        workers: int = 2,
        max_wait_s: float = 60.0,
        time_limits_s: dict[str, float] | None = None,
        runner: str = "inprocess",
    ) -> None:
        super().__init__(store, user)
        self.max_wait_s = max_wait_s
        """The longest a caller's `wait` is served before the job is answered as it stands."""
        self.time_limits_s = {**DEFAULT_TIME_LIMITS_S, **(time_limits_s or {})}
        """Seconds a job of each kind may run before it ends failed, TimedOut."""
        self.runner = runner
        """"inprocess": this process runs the jobs it submits; "workers": it only queues the kinds a
        `crispml worker` runs (WORKER_KINDS) and never runs them."""
        self.owner = identity()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crispml-job")
        self._done: dict[str, threading.Event] = {}

    def recover(self) -> list[str]:
        """Mark jobs whose process died as interrupted; returns their ids."""
        interrupted = []
        stale_before = now() - _STALE_AFTER
        with self.store.jobs() as jobs:
            for job in jobs.active():
                running = may_be_running(job.owner)
                if running is None:  # another host's job: only a stale heartbeat tells it died
                    running = (jobs.last_heartbeat(job.id) or job.created_at) >= stale_before
                gone = not running
                if gone:
                    jobs.update(
                        job.id,
                        status=JobStatus.INTERRUPTED,
                        finished_at=now(),
                        error={
                            "title": "Interrupted",
                            "detail": "the process running this job stopped before it ended",
                        },
                    )
                    interrupted.append(job.id)
                    log.warning(
                        "job %s (%s) interrupted: its process stopped before it ended",
                        job.id,
                        job.kind,
                        extra={"job_id": job.id, "kind": job.kind, "status": JobStatus.INTERRUPTED.value},
                    )
        return interrupted

    def submit(
        self, kind: str, params: dict[str, Any], work: Work, user: str | None = None, job_id: str | None = None
    ) -> Job:
        """Queue `work` and return the queued job at once (`job_id`: an id the caller drew with `new_id`)."""
        job = Job(
            id=job_id or new_id("job"),
            kind=kind,
            status=JobStatus.QUEUED,
            params=params,
            phase=None,
            progress=0.0,
            result=None,
            error=None,
            cancel_requested=False,
            owner=self.owner,
            created_by=user or self.user,
            created_at=now(),
            started_at=None,
            finished_at=None,
            runner="workers" if self.runner == "workers" and kind in WORKER_KINDS else "inprocess",
            request_id=request_id(),
        )
        with self.store.jobs() as jobs:
            jobs.add(job)
        if job.runner == "workers":
            return job  # a worker claims it from the database
        self._done[job.id] = threading.Event()
        # The job runs in its submitter's context: it acts as the principal who asked for it, and its log
        # lines and perf records carry the request id that submitted it.
        self._executor.submit(contextvars.copy_context().run, self._run, job.id, kind, work)
        return job

    def get(self, job_id: str) -> Job:
        """A job; NotFound for a key that neither submitted it nor is an admin's."""
        with self.store.jobs() as jobs:
            return self._visible(jobs.get(job_id))

    def list_jobs(self, status: JobStatus | None = None, limit: int = 100, offset: int = 0) -> list[Job]:
        """Recent jobs: every job for an admin (or the local user), else the acting key's own."""
        with self.store.jobs() as jobs:
            return jobs.list_jobs(status, limit, offset, None if sees_all_jobs() else self.user)

    def _visible(self, job: Job) -> Job:
        if not sees_all_jobs() and job.created_by != self.user:
            raise NotFound(f"job {job.id!r} does not exist")
        return job

    def wait(self, job_id: str, timeout_s: float) -> Job:
        """The job once it has finished, or as it stands after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        event = self._done.get(job_id)
        while True:
            job = self.get(job_id)
            remaining = deadline - time.monotonic()
            if job.status.finished or remaining <= 0:
                return job
            if event is not None:
                event.wait(min(remaining, 1.0))
            else:  # owned by another process: poll the database
                time.sleep(min(remaining, 0.2))

    async def wait_async(self, job_id: str, timeout_s: float) -> Job:
        """`wait` for an async caller, holding no thread while it waits (a long-poll on the event loop).

        A job of this process is watched through its done event (a flag read, no database read);
        another process's job is read from the database twice a second, on a worker thread per read.
        """
        deadline = time.monotonic() + timeout_s
        job = await asyncio.to_thread(self.get, job_id)
        while not job.status.finished and (remaining := deadline - time.monotonic()) > 0:
            event = self._done.get(job_id)
            step_end = time.monotonic() + min(remaining, 1.0 if event is not None else 0.5)
            while time.monotonic() < step_end and not (event is not None and event.is_set()):
                await asyncio.sleep(0.05 if event is not None else step_end - time.monotonic())
            job = await asyncio.to_thread(self.get, job_id)
        return job

    def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or ask a running one to stop at its next progress report."""
        with self.store.transaction() as uow:
            job = self._visible(uow.jobs.get(job_id))
            if job.status.finished:
                raise Conflict(f"job {job_id} has already {job.status.value}", field="job")
            if job.status is JobStatus.QUEUED:
                uow.jobs.update(job_id, status=JobStatus.CANCELLED, cancel_requested=True, finished_at=now())
                after = JobStatus.CANCELLED
            else:
                uow.jobs.update(job_id, cancel_requested=True)
                after = job.status
            uow.audit.append(
                action="job.cancel",
                resource=f"job:{job_id}",
                before={"status": job.status.value, "cancel_requested": job.cancel_requested},
                after={"status": after.value, "cancel_requested": True},
                principal=self.user,
            )
        return self.get(job_id)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _run(self, job_id: str, kind: str, work: Work) -> None:
        try:
            with self.store.jobs() as jobs:
                if jobs.get(job_id).status is not JobStatus.QUEUED:
                    return  # cancelled while it waited
                jobs.update(job_id, status=JobStatus.RUNNING, started_at=now(), heartbeat_at=now())
            self._execute(job_id, kind, work, self._finish, check=None)
        finally:
            event = self._done.pop(job_id, None)
            if event is not None:
                event.set()

    def run_claimed(self, job: Job, work: Work, worker: str, stopping: threading.Event) -> None:
        """Run a job `worker` claimed (see `crispml.services.worker`): it ends only while the worker
        still holds its lease, and goes back to the queue when the worker is asked to stop first."""

        def finish(job_id: str, **values: Any) -> None:
            with self.store.jobs() as jobs:
                jobs.finish_claimed(job_id, worker, finished_at=now(), claimed_by=None, **values)

        def check(current: Job) -> None:
            if current.claimed_by != worker or current.status is not JobStatus.RUNNING or stopping.is_set():
                raise JobReleased(job.id)

        try:
            self._execute(job.id, job.kind, work, finish, check)
        except JobReleased:
            with self.store.jobs() as jobs:
                jobs.release(job.id, worker)  # a no-op when the lease was lost: the reaper decided

    def _execute(
        self, job_id: str, kind: str, work: Work, finish: Callable[..., None], check: Callable[[Job], None] | None
    ) -> None:
        """Run a job already marked running to its end, written through `finish` (JobReleased passes)."""
        limit = self.time_limits_s.get(kind, _DEFAULT_LIMIT_S)
        watchdog = threading.Timer(limit, self._expire, (job_id, kind, limit, finish))
        watchdog.daemon = True
        started = time.monotonic()

        def end(**values: Any) -> None:
            finish(job_id, **values)
            _log_end(job_id, kind, time.monotonic() - started, values)

        try:
            log.info("job %s (%s) started", job_id, kind, extra={"job_id": job_id, "kind": kind})
            watchdog.start()
            result = work(self._reporter(job_id, kind, time.monotonic() + limit, check))
            end(status=JobStatus.SUCCEEDED, progress=1.0, phase="done", result=result)
        except JobCancelled:
            end(status=JobStatus.CANCELLED, phase="cancelled")
        except JobTimedOut:
            # Raised at a progress report before the outputs commit: what it staged is discarded with it.
            end(status=JobStatus.FAILED, error=_timed_out(kind, limit))
        except JobReleased:
            log.info("job %s (%s) released: it goes back to the queue", job_id, kind,
                     extra={"job_id": job_id, "kind": kind})  # fmt: skip
            raise
        except CrispmlError as exc:
            end(status=JobStatus.FAILED, error={"title": type(exc).__name__, "detail": exc.message, "field": exc.field})
        except Exception as exc:  # a job must end, whatever went wrong
            log.exception("job %s (%s) failed unexpectedly", job_id, kind, extra={"job_id": job_id, "kind": kind})
            end(
                status=JobStatus.FAILED,
                error={"title": "InternalError", "detail": f"{type(exc).__name__}: {exc}"[:2000]},
            )
        finally:
            watchdog.cancel()

    def _expire(self, job_id: str, kind: str, limit: float, finish: Callable[..., None]) -> None:
        """At the time limit, end a job that is stuck between progress reports (in a read that hangs).

        Its thread cannot be stopped from outside; its next progress report raises JobTimedOut, before
        anything it staged commits, so a job ended here stores nothing."""
        with self.store.jobs() as jobs:
            if jobs.get(job_id).status is not JobStatus.RUNNING:
                return
        finish(job_id, status=JobStatus.FAILED, error=_timed_out(kind, limit))
        log.warning("job %s (%s) stopped at its time limit of %g s", job_id, kind, limit,
                    extra={"job_id": job_id, "kind": kind, "status": JobStatus.FAILED.value})  # fmt: skip
        event = self._done.get(job_id)
        if event is not None:
            event.set()

    def _finish(self, job_id: str, **values: Any) -> None:
        with self.store.jobs() as jobs:
            # A job the watchdog already ended keeps its TimedOut, unless its work did commit after all.
            if values["status"] is not JobStatus.SUCCEEDED and jobs.get(job_id).status.finished:
                return
            jobs.update(job_id, finished_at=now(), **values)

    def _reporter(self, job_id: str, kind: str, deadline: float, check: Callable[[Job], None] | None) -> Progress:
        last = last_logged = 0.0
        logged_phase = None

        def report(phase: str, fraction: float) -> None:
            nonlocal last, last_logged, logged_phase
            # Checked at every report (a clock read), before the throttle; "done" (1.0) comes after the
            # commit, so a job that got there is not undone.
            if fraction < 1.0 and time.monotonic() > deadline:
                raise JobTimedOut(job_id)
            # A worker's job reads its row at every report (a job reports a handful of times): a lease
            # lost or a stop asked for is seen at the last report before the outputs commit.
            if check is None and time.monotonic() - last < _PROGRESS_INTERVAL_S and fraction < 1.0:
                return
            last = time.monotonic()
            with self.store.jobs() as jobs:
                current = jobs.get(job_id)
                if check is not None and fraction < 1.0:  # at 1.0 the outputs have committed: it ends
                    check(current)
                if current.cancel_requested:
                    raise JobCancelled(job_id)
                jobs.update(job_id, phase=phase[:64], progress=max(0.0, min(1.0, fraction)), heartbeat_at=now())
            if phase != logged_phase or last - last_logged >= _PROGRESS_LOG_INTERVAL_S:
                logged_phase, last_logged = phase, last
                fields = {"job_id": job_id, "kind": kind, "phase": phase[:64], "progress": round(fraction, 3)}
                log.info("job %s (%s) %s %.0f %%", job_id, kind, phase[:64], 100 * fraction, extra=fields)

        return report


def _log_end(job_id: str, kind: str, seconds: float, values: dict[str, Any]) -> None:
    status: JobStatus = values["status"]
    error = values.get("error") or {}
    fields = {"job_id": job_id, "kind": kind, "status": status.value, "duration_s": round(seconds, 3)}
    if error:
        fields["error"] = f"{error.get('title')}: {error.get('detail')}"
    level = logging.WARNING if status is JobStatus.FAILED else logging.INFO
    log.log(level, "job %s (%s) %s in %.2f s", job_id, kind, status.value, seconds, extra=fields)


def _timed_out(kind: str, limit: float) -> dict[str, Any]:
    detail = f"the {kind} job ran past its time limit of {limit:g} s and was stopped; nothing was stored"
    return {"title": "TimedOut", "detail": detail}
