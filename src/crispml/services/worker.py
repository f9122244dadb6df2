"""`crispml worker`: a process that claims queued jobs from the database and runs them.

With `CRISPML_JOB_RUNNER=workers` the API only queues the kinds in `WORKER_KINDS`; any number of
worker processes (on any host reaching the database) claim them one statement at a time (see
`JobRepository.claim`). A worker holds a lease on each job it runs: it renews the job's heartbeat every
third of the lease, and every worker reaps jobs whose lease ran out: requeued once (a second worker
claims it), ended interrupted after `max_attempts` claims. A job whose lease was lost stops at its next
progress report without storing anything, so one job never runs on two workers at once beyond the gap
between two progress reports of a worker that stalled past its whole lease.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

from crispml.contract.answers import DatasetAnswer, ModelVersionAnswer
from crispml.contract.scoring import ScoreBatchAnswer
from crispml.domain import Job, SourceSpec
from crispml.errors import Forbidden
from crispml.identity import Principal, Role, acting_as, serving_request
from crispml.services.access import AccessService
from crispml.services.base import Progress, now
from crispml.services.ingestion import IngestionService
from crispml.services.jobs import WORKER_KINDS, JobService
from crispml.services.lifecycle import LifecycleService
from crispml.services.pipelines import PipelineService
from crispml.services.retraining import RetrainService
from crispml.services.scoring import ScoringService

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Progress], dict[str, Any]]
"""Runs one kind of job from its stored params; returns the job's result."""


def train_job(lifecycle: LifecycleService, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """A train job from its params ({"name", "dataset", and the train options}): the API's in-process
    job and a worker's run this same call."""
    options = dict(params)
    name, dataset = options.pop("name"), options.pop("dataset")
    trained = lifecycle.train(dataset, name=name, progress=progress, **options)
    return ModelVersionAnswer.from_domain(trained).model_dump(mode="json")


def ingest_job(ingestion: IngestionService, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """An ingest job from its params ({"spec": the source's fields, "upload": whether the file was uploaded
    for it, and the ingest options}); a failed upload's file is removed."""
    options = {k: v for k, v in params.items() if k not in ("source", "spec", "upload")}
    spec = SourceSpec(**params["spec"])
    try:
        ingested = ingestion.ingest(spec, progress=progress, **options)
    except BaseException:
        if params.get("upload") and spec.path is not None:  # a failed upload leaves nothing behind
            Path(spec.path).unlink(missing_ok=True)
        raise
    return DatasetAnswer.from_domain(ingested).model_dump(mode="json")


def score_job(scoring: ScoringService, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """A dataset scoring job from its params ({"model", "dataset", "frames", "idempotency_key"})."""
    result = scoring.score(params["model"], dataset=params["dataset"], frames=params["frames"],
                           idempotency_key=params.get("idempotency_key"), progress=progress)  # fmt: skip
    return ScoreBatchAnswer.dump(result, with_scores=False)


def handlers(lifecycle: LifecycleService, ingestion: IngestionService, scoring: ScoringService,
             pipelines: PipelineService, retrain: RetrainService) -> dict[str, Handler]:  # fmt: skip
    """The job kinds a worker runs (WORKER_KINDS), each rebuilt from its params."""
    found: dict[str, Handler] = {
        "train": lambda params, progress: train_job(lifecycle, params, progress),
        "ingest": lambda params, progress: ingest_job(ingestion, params, progress),
        "score": lambda params, progress: score_job(scoring, params, progress),
        "pipeline": pipelines.run_job,
        "retrain": retrain.run_job,
    }
    assert set(found) == set(WORKER_KINDS)
    return found


class Worker:
    """Claims and runs jobs until `stop()`; then requeues the jobs it runs at their next progress report."""

    def __init__(
        self,
        jobs: JobService,
        access: AccessService,
        run: Mapping[str, Handler],
        concurrency: int = 1,
        lease_s: float = 30.0,
        max_attempts: int = 2,
        poll_s: float = 0.5,
    ) -> None:
        self.jobs, self.access, self.run_kind = jobs, access, dict(run)
        self.concurrency, self.lease_s, self.max_attempts, self.poll_s = concurrency, lease_s, max_attempts, poll_s
        self.name = f"worker:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        """This worker's lease holder name (host and pid, for a reader; unique across restarts)."""
        self._stopping = threading.Event()
        self._running: dict[str, Future[None]] = {}
        self._lock = threading.Lock()

    def stop(self) -> None:
        """Stop claiming; running jobs go back to the queue at their next progress report (or finish)."""
        self._stopping.set()

    def serve(self) -> None:
        """Claim and run jobs until stopped, then wait for the running ones to end or be released."""
        beat = threading.Thread(target=self._heartbeat, name="crispml-worker-lease", daemon=True)
        beat.start()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="crispml-worker") as pool:
            while not self._stopping.is_set():
                self.reap()
                claimed = self._claim() if self._free() and not self._stopping.is_set() else None
                if claimed is None:
                    self._stopping.wait(self.poll_s)
                    continue
                log.info("claimed job %s (%s, attempt %d)", claimed.id, claimed.kind, claimed.attempts)
                with self._lock:
                    self._running[claimed.id] = pool.submit(self._run, claimed)
        beat.join()

    def reap(self) -> dict[str, int]:
        """Requeue or interrupt the jobs whose worker's lease ran out (any worker's)."""
        with self.jobs.store.jobs() as jobs:
            reaped = jobs.reap(now() - timedelta(seconds=self.lease_s), self.max_attempts, now())
        if any(reaped.values()):
            log.warning("jobs of a worker that stopped: %s", reaped)
        return reaped

    def _free(self) -> bool:
        with self._lock:
            for job_id in [job_id for job_id, done in self._running.items() if done.done()]:
                del self._running[job_id]
            return len(self._running) < self.concurrency

    def _claim(self) -> Job | None:
        with self.jobs.store.jobs() as jobs:
            return jobs.claim(self.name, list(self.run_kind), now())

    def _run(self, job: Job) -> None:
        if self._stopping.is_set():  # asked to stop while it claimed: back to the queue untouched
            with self.jobs.store.jobs() as jobs:
                jobs.release(job.id, self.name)
            return
        handler = self.run_kind[job.kind]
        work: Callable[[Progress], dict[str, Any]] = lambda progress: handler(job.params, progress)  # noqa: E731
        try:
            principal = self._principal(job.created_by)
        except Forbidden as exc:  # the key that asked for the job was revoked meanwhile: the job fails
            refused = exc
            principal, work = None, lambda _progress: _refuse(refused)
        # As the in-process runner: the job's log lines and perf records carry the request that submitted it.
        with acting_as(principal), serving_request(job.request_id):
            self.jobs.run_claimed(job, work, self.name, self._stopping)

    def _principal(self, name: str) -> Principal | None:
        """The principal who submitted a job, as the in-process runner acts (its key's role and projects as
        they stand now); None for the local user, who holds no key: the worker's own user."""
        if name == self.access.user:
            return None
        found = [user for user in self.access.list_users() if user.name == name]
        if not found or found[0].revoked_at is not None:
            raise Forbidden(f"the key {name!r} that queued this job no longer exists or was revoked")
        projects = None if found[0].projects is None else frozenset(found[0].projects)
        return Principal(name, Role(found[0].role), projects)

    def _heartbeat(self) -> None:
        """Renew this worker's leases every third of the lease, until it has stopped and run dry."""
        interval = self.lease_s / 3
        while True:
            with self._lock:
                held = [job_id for job_id, done in self._running.items() if not done.done()]
            if held:
                with self.jobs.store.jobs() as jobs:
                    jobs.renew(self.name, held, now())
            elif self._stopping.is_set():
                return
            if self._stopping.is_set():
                time.sleep(min(interval, 0.2))
            else:
                self._stopping.wait(interval)


def _refuse(exc: Forbidden) -> dict[str, Any]:
    raise exc
