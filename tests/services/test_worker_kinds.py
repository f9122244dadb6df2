"""Every durable job kind runs on `crispml worker`: an API with CRISPML_JOB_RUNNER=workers only queues
ingest, dataset scoring and retrain jobs too, and a scoring job whose worker was killed is run again once."""

from __future__ import annotations

import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from crispml.container import Container
from crispml.domain import JobStatus
from crispml.local import Crispml
from crispml.services.jobs import JobService
from crispml.services.worker import Worker, handlers
from crispml.settings import Settings
from tests.conftest import wait_for
from tests.services.test_retraining import PIPELINE as RETRAINED
from tests.services.test_worker import FAST, job, start_worker


@pytest.mark.parametrize("backend", ["sqlite"])
def test_an_api_only_queues_ingest_and_scoring_and_a_killed_scoring_worker_is_retried_once(
    cml: Crispml, home: Path, small_csv: Path
) -> None:
    from fastapi.testclient import TestClient

    from crispml.api.app import create_app
    from crispml.settings import Settings

    (home / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(small_csv, home / "data" / "creditcard.csv")
    services = cml.container
    jobs = JobService(cml.store, "tester")
    run = handlers(services.lifecycle, services.ingestion, services.scoring, services.pipelines, services.retrain)
    worker = Worker(jobs, services.access, run, lease_s=1, poll_s=0.05)
    app = create_app(Settings(home=home, user="tester", job_runner="workers"))
    with TestClient(app) as http:
        body = {"source": {"path": "creditcard.csv"}, "name": "ccf", "percent_data": 0.25}
        ingest = http.post("/api/v1/datasets", json=body)
        assert ingest.status_code == 202, ingest.text
        ingest_url = f"/api/v1/jobs/{ingest.json()['id']}"
        assert http.get(ingest_url).json()["status"] == "queued"  # the API runs no ingest job itself
        thread = threading.Thread(target=worker.serve)
        thread.start()
        try:
            wait_for(lambda: http.get(ingest_url).json()["status"] == "succeeded", timeout=60, poll=0.1)
        finally:
            worker.stop()
            thread.join(30)
        assert http.get(ingest_url).json()["result"]["name"] == "ccf"
        model = cml.train("ccf", algorithm="rf", frames="1-6", name="fraud", params=FAST)
        cml.persist(model.ref, alias="champion")

        score = http.post("/api/v1/models/fraud/score", json={"dataset": "ccf", "frames": "7-12"})
        assert score.status_code == 202, score.text
        url = f"/api/v1/jobs/{score.json()['id']}"
        assert http.get(url).json()["status"] == "queued"
        doomed = start_worker(home, None, lease_s="1", CRISPML_CRASH_AT="scores.before_commit")
        assert doomed.wait(timeout=60) == -signal.SIGKILL  # killed mid-job: scored, not committed
        doomed.communicate()
        killed = http.get(url).json()
        assert killed["status"] == "running"

        worker = Worker(jobs, services.access, worker.run_kind, lease_s=1, poll_s=0.05)
        thread = threading.Thread(target=worker.serve)
        thread.start()
        try:
            wait_for(lambda: http.get(url).json()["status"] == "succeeded", timeout=60, poll=0.1)
        finally:
            worker.stop()
            thread.join(30)
        retried = job(cml, url.rsplit("/", 1)[1])
        assert retried.attempts == 2 and retried.owner == worker.name != killed["owner"]
        assert retried.result is not None and retried.result["model"] == model.ref
    jobs.shutdown()
    with cml.store.reading() as uow:  # the killed attempt committed nothing: one batch's scores
        assert uow.ledger.get_batch(retried.result["batch_id"]).rows == retried.result["rows"] > 0
        assert uow.ledger.count() == retried.result["rows"]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_retrain_job_fired_by_an_api_runs_on_a_worker(cml: Crispml, home: Path, small_csv: Path) -> None:
    (home / "data").mkdir(parents=True, exist_ok=True)
    shutil.copy(small_csv, home / "data" / "creditcard.csv")
    with Container(Settings(home=home, user="tester", job_runner="workers")) as api:  # type: ignore[call-arg]
        api.retrain.set_policy("fraud", [], RETRAINED, every="1s")
        time.sleep(1.05)  # the policy is due
        [trigger] = api.retrain.check()
        assert api.jobs.get(trigger.job_id).status is JobStatus.QUEUED  # the API runs no retrain job itself
        services = cml.container
        run = handlers(services.lifecycle, services.ingestion, services.scoring, services.pipelines, services.retrain)
        worker = Worker(JobService(cml.store, "tester"), services.access, run, lease_s=5, poll_s=0.05)
        thread = threading.Thread(target=worker.serve)
        thread.start()
        try:
            wait_for(lambda: api.retrain.trigger(trigger.id).status != "running", timeout=60, poll=0.1)
        finally:
            worker.stop()
            thread.join(30)
        done, ran = api.retrain.trigger(trigger.id), api.jobs.get(trigger.job_id)
        assert done.status == "succeeded" and done.challenger == "fraud/1", done.error
        assert ran.kind == "retrain" and ran.status is JobStatus.SUCCEEDED and ran.owner == worker.name
        assert api.lifecycle.get_model("fraud@challenger").ref == "fraud/1"
