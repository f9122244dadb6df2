"""Durable jobs over HTTP: 202 and Location, progress, cancel, and interruption by a dead process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from crispml.client import Client
from tests.api.conftest import Server
from tests.conftest import wait_for

SLOW_TRAIN = {"dataset": "ccf", "algorithm": "rf", "params": {"n_estimators": 3000, "n_jobs": 1}}


def status(server: Server, job_id: str) -> str:
    return str(httpx.get(f"{server.url}/api/v1/jobs/{job_id}").json()["status"])


def test_a_job_answers_202_with_location_then_its_result(server: Server) -> None:
    response = httpx.post(f"{server.url}/api/v1/datasets", json={"source": {"path": "creditcard.csv"}, "name": "ccf"})
    assert response.status_code == 202
    location = response.headers["location"]
    assert location == f"/api/v1/jobs/{response.json()['id']}" and response.json()["status"] in {"queued", "running"}
    done = httpx.get(f"{server.url}{location}", params={"wait": "true", "timeout": 60}).json()
    assert done["status"] == "succeeded" and done["progress"] == 1.0 and done["result"]["name"] == "ccf"
    assert done["started_at"] and done["finished_at"] and done["created_by"] == "api-tester"


def test_cancel_stops_a_running_training_and_keeps_nothing(server: Server, client: Client) -> None:
    client.ingest("creditcard.csv", name="ccf")
    job = httpx.post(f"{server.url}/api/v1/models/slow/versions", json=SLOW_TRAIN).json()
    wait_for(lambda: status(server, job["id"]) == "running", poll=0.1)
    assert httpx.post(f"{server.url}/api/v1/jobs/{job['id']}/cancel").json()["cancel_requested"] is True
    wait_for(lambda: status(server, job["id"]) == "cancelled", timeout=120, poll=0.1)
    assert httpx.get(f"{server.url}/api/v1/models/slow/versions").status_code == 404
    again = httpx.post(f"{server.url}/api/v1/jobs/{job['id']}/cancel")
    assert again.status_code == 409 and "cancelled" in again.json()["detail"]


def test_a_job_running_when_the_process_died_is_marked_interrupted(
    make_server: Callable[..., Server], home: Path, small_csv: Path
) -> None:
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    first = make_server().start()
    Client(first.url).ingest("creditcard.csv", name="ccf")
    job = httpx.post(f"{first.url}/api/v1/models/slow/versions", json=SLOW_TRAIN).json()
    wait_for(lambda: status(first, job["id"]) == "running", poll=0.1)
    first.kill()
    second = make_server().start()
    after = httpx.get(f"{second.url}/api/v1/jobs/{job['id']}").json()
    assert after["status"] == "interrupted" and after["finished_at"] is not None
    assert "stopped" in after["error"]["detail"]
    assert httpx.get(f"{second.url}/api/v1/models/slow/versions").status_code == 404


def test_uploads_stream_to_disk_within_the_size_limit(make_server: Callable[..., Server], small_csv: Path) -> None:
    server = make_server(CRISPML_MAX_UPLOAD_BYTES=str(small_csv.stat().st_size + 10_000)).start()
    with Client(server.url) as client:
        dataset = client.upload(small_csv, name="uploaded", slices=6)
    assert dataset["name"] == "uploaded" and dataset["frames"] == 6 and dataset["rows"] > 0
    big = small_csv.read_bytes() * 2
    refused = httpx.post(f"{server.url}/api/v1/datasets/upload", files={"file": ("big.csv", big)})
    assert refused.status_code == 413 and refused.headers["content-type"].startswith("application/problem+json")
    listed = httpx.get(f"{server.url}/api/v1/datasets").json()
    assert [d["name"] for d in listed["items"]] == ["uploaded"]
