"""`crispml worker`: jobs claimed from the database by worker processes, leases, retries and cancels."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import crispml
from crispml.domain import Job, JobStatus
from crispml.local import Crispml
from crispml.services.base import Progress, now
from crispml.services.jobs import JobService
from crispml.services.worker import Worker
from tests.conftest import crispml_source, wait_for

FAST = {"n_estimators": 5, "n_jobs": 1}
WORKER = [str(Path(sys.executable).with_name("crispml")), "worker"]


def queue_train(cml: Crispml, count: int, name: str = "fraud") -> list[str]:
    """Queue `count` train jobs as an API with CRISPML_JOB_RUNNER=workers does: rows, nothing run."""
    api = JobService(cml.store, "tester", runner="workers")
    params = {"name": name, "dataset": "ccf", "algorithm": "rf", "frames": "1-6", "weight": 10.0, "params": FAST,
              "seed": 42, "threshold": 0.5}  # fmt: skip
    ids = [api.submit("train", params, _never).id for _ in range(count)]
    api.shutdown()
    return ids


def _never(_progress: Progress) -> dict[str, Any]:
    raise AssertionError("a job queued for workers ran in the process that queued it")


def job(cml: Crispml, job_id: str) -> Job:
    with cml.store.jobs() as jobs:
        return jobs.get(job_id)


def finished(cml: Crispml, ids: list[str], *workers: subprocess.Popen[str]) -> bool:
    """Whether every job ended (while each of `workers` is still up: a dead one fails the test at once)."""
    for worker in workers:
        assert worker.poll() is None, worker.communicate()[1]
    return all(job(cml, job_id).status.finished for job_id in ids)


def start_worker(home: Path, database_url: str | None, lease_s: str = "3", **env: str) -> subprocess.Popen[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CRISPML_")}
    environment.update(CRISPML_HOME=str(home), CRISPML_USER="tester", CRISPML_JOB_LEASE_S=lease_s, **env)
    if database_url is not None:
        environment["CRISPML_DATABASE_URL"] = database_url
    return subprocess.Popen(WORKER, env=environment, stderr=subprocess.PIPE, text=True)


def stop(worker: subprocess.Popen[str]) -> str:
    """SIGTERM a worker; it exits 0 once its jobs ended or went back to the queue. Returns its log."""
    worker.send_signal(signal.SIGTERM)
    _, log = worker.communicate(timeout=30)
    assert worker.returncode == 0, log
    return log


@pytest.fixture
def with_dataset(cml: Crispml, small_csv: Path) -> Crispml:
    cml.ingest(crispml_source(small_csv), name="ccf", percent_data=0.25)
    return cml


@pytest.mark.parametrize("backend", ["postgresql"])  # SKIP LOCKED; SQLite's claim races in the next test
def test_two_workers_drain_a_queue_each_job_once(with_dataset: Crispml, home: Path, database_url: str | None) -> None:
    cml = with_dataset
    ids = queue_train(cml, 4)
    workers = [start_worker(home, database_url), start_worker(home, database_url)]
    try:
        wait_for(lambda: finished(cml, ids, *workers), timeout=120, poll=0.2)
    finally:
        logs = [stop(worker) for worker in workers]
    jobs = [job(cml, job_id) for job_id in ids]
    assert {j.status for j in jobs} == {JobStatus.SUCCEEDED}, [j.error for j in jobs]
    assert all(j.attempts == 1 and j.claimed_by is None for j in jobs), [
        (j.attempts, j.owner, j.claimed_by) for j in jobs
    ]
    assert {j.owner for j in jobs} <= {name for log in logs for name in re.findall(r"worker:\S+", log)}
    versions = sorted(j.result["version"] for j in jobs if j.result)
    assert versions == [1, 2, 3, 4]  # one model version per job: none ran twice
    assert len(cml.lifecycle.list_models("fraud")) == 4


def test_workers_on_their_own_connections_claim_each_job_once(cml: Crispml, home: Path,
                                                              database_url: str | None) -> None:  # fmt: skip
    ids = queue_train(cml, 12)
    ran: list[str] = []
    lock = threading.Lock()

    def count(params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        progress("counting", 0.5)
        with lock:
            ran.append(params["name"])
        return {}

    with crispml.connect(home=home, database_url=database_url, user="tester") as other:
        workers = [Worker(JobService(store, "tester"), cml.container.access, {"train": count}, concurrency=2,
                          poll_s=0.01) for store in (cml.store, other.store)]  # fmt: skip
        threads = [threading.Thread(target=worker.serve) for worker in workers]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: finished(cml, ids), timeout=30)
        finally:
            for worker in workers:
                worker.stop()
            for thread in threads:
                thread.join(30)
    jobs = [job(cml, job_id) for job_id in ids]
    assert len(ran) == 12 and {(j.status, j.attempts) for j in jobs} == {(JobStatus.SUCCEEDED, 1)}
    assert {j.owner for j in jobs} <= {worker.name for worker in workers}


def test_an_expired_lease_is_requeued_once_then_interrupted(cml: Crispml) -> None:
    (job_id,) = queue_train(cml, 1)
    long_ago = now() - timedelta(minutes=5)
    with cml.store.jobs() as jobs:
        first = jobs.claim("worker:a", ["train"], long_ago)
        assert first is not None and first.id == job_id and first.attempts == 1
        assert jobs.claim("worker:b", ["train"], now()) is None  # taken: nobody else claims it
        assert jobs.reap(now() - timedelta(seconds=30), 2, now()) == {"cancelled": 0, "requeued": 1, "interrupted": 0}
        assert not jobs.renew("worker:a", [job_id], now())  # the dead worker's lease is gone
        second = jobs.claim("worker:b", ["train"], long_ago)
        assert second is not None and second.attempts == 2
        assert not jobs.finish_claimed(job_id, "worker:a", status=JobStatus.SUCCEEDED)
        assert jobs.reap(now() - timedelta(seconds=30), 2, now()) == {"cancelled": 0, "requeued": 0, "interrupted": 1}
        assert jobs.reap(now() - timedelta(seconds=30), 2, now()) == {"cancelled": 0, "requeued": 0, "interrupted": 0}
    ended = job(cml, job_id)
    assert ended.status is JobStatus.INTERRUPTED and ended.claimed_by is None and "2 times" in ended.error["detail"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_api_only_queues_and_a_killed_workers_job_is_run_again_by_another(with_dataset: Crispml, home: Path) -> None:
    from fastapi.testclient import TestClient

    from crispml.api.app import create_app
    from crispml.settings import Settings

    app = create_app(Settings(home=home, user="tester", job_runner="workers"))
    with TestClient(app) as http:
        answer = http.post("/api/v1/models/fraud/versions", json={"dataset": "ccf", "params": FAST})
        assert answer.status_code == 202, answer.text
        url = f"/api/v1/jobs/{answer.json()['id']}"
        assert http.get(url).json()["status"] == "queued"  # the API runs no train job itself

        doomed = start_worker(home, None, lease_s="1", CRISPML_CRASH_AT="models.before_commit")
        assert doomed.wait(timeout=60) == -signal.SIGKILL  # killed mid-job: trained, not committed
        doomed.communicate()
        killed = http.get(url).json()
        assert killed["status"] == "running" and killed["progress"] < 1

        # A lease of its own long enough for a loaded machine: with 1 s, a CI run starved its heartbeat
        # past the lease during the model's compile, and it reaped its own job.
        other = start_worker(home, None, lease_s="4")
        try:
            wait_for(lambda: http.get(url).json()["status"] == "succeeded", timeout=60, poll=0.2)
            assert other.poll() is None
        finally:
            log = stop(other)
        retried = job(with_dataset, url.rsplit("/", 1)[1])
        assert retried.attempts == 2 and retried.owner != killed["owner"] and retried.owner in log
        assert http.get(url).json()["result"]["version"] == 1
    assert [v.version for v in with_dataset.lifecycle.list_models("fraud")] == [1]  # the killed run stored nothing


# -- in-process workers with a job that waits, to cancel and stop it mid-run ----------------------


@contextmanager
def serving(cml: Crispml, gate: threading.Event) -> Iterator[Worker]:
    def slow(_params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while not gate.is_set() and time.monotonic() < deadline:
            progress("waiting", 0.5)
            time.sleep(0.02)
        return {"waited": True}

    jobs = JobService(cml.store, "tester")
    worker = Worker(jobs, cml.container.access, {"train": slow}, concurrency=1, lease_s=5, poll_s=0.05)
    thread = threading.Thread(target=worker.serve)
    thread.start()
    try:
        yield worker
    finally:
        gate.set()
        worker.stop()
        thread.join(30)
        jobs.shutdown()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_cancel_a_running_and_a_queued_job_and_stop_gracefully(cml: Crispml) -> None:
    running, queued = queue_train(cml, 2)
    gate = threading.Event()
    with serving(cml, gate) as worker:
        wait_for(lambda: job(cml, running).status is JobStatus.RUNNING, timeout=30)
        assert job(cml, running).claimed_by == worker.name
        assert cml.jobs.cancel(queued).status is JobStatus.CANCELLED  # never claimed now
        cml.jobs.cancel(running)
        wait_for(lambda: job(cml, running).status is JobStatus.CANCELLED, timeout=30)
        (third,) = queue_train(cml, 1)
        wait_for(lambda: job(cml, third).status is JobStatus.RUNNING, timeout=30)
        worker.stop()  # what SIGTERM does: the running job goes back to the queue
        wait_for(lambda: job(cml, third).status is JobStatus.QUEUED, timeout=30)
    back = job(cml, third)
    assert back.attempts == 0 and back.claimed_by is None and back.started_at is None
    assert job(cml, queued).attempts == 0
