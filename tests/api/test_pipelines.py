"""Pipelines as code over REST, the client and `crispml pipeline run --remote`: one server for the module."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crispml.client import Client
from crispml.contract.pipeline import pipeline_schema
from crispml.errors import Forbidden, NotFound
from tests.api.conftest import CRISPML, Server

PIPELINE = """
name: rest-fraud
ingest: {source: {path: creditcard.csv}, name: ccf}
curate: {algorithm: rf, frames: 1-6}
train: {name: fraud, algorithm: rf, frames: 1-6, weight: 10, params: {n_estimators: 10}}
report: {frames: 7-12}
gates: [{kpi: roc_auc, value: 0.5}]
persist: {alias: champion}
score: {frames: 7-12}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("rest-pipelines") / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    running = Server(home, None).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(server: Server) -> Iterator[Client]:
    with Client(server.url, timeout=300) as api:
        yield api


def test_the_schema_is_served(server: Server) -> None:
    answer = httpx.get(f"{server.url}/api/v1/pipelines/schema")
    assert answer.status_code == 200 and answer.json() == pipeline_schema()


def test_a_bad_file_is_refused_naming_the_path_and_nothing_runs(server: Server, client: Client) -> None:
    bad = PIPELINE.replace("weight: 10", "weight: 10, wieght: 3")
    answer = httpx.post(f"{server.url}/api/v1/pipelines", content=bad, headers={"content-type": "application/yaml"})
    assert answer.status_code == 422, answer.text
    assert "train.wieght: unknown key" in answer.json()["detail"]
    with pytest.raises(Forbidden):  # a path outside the data folder
        client.run_pipeline({"name": "p", "ingest": {"source": {"path": "../../etc/passwd"}}, "train": {"name": "x"}})
    assert client.jobs()["items"] == [] and client.datasets()["items"] == []


def test_the_cli_runs_a_pipeline_on_the_server_and_the_champion_reaches_its_raw_data(
    server: Server, client: Client, tmp_path: Path
) -> None:
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(PIPELINE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISPML_")}
    done = subprocess.run([CRISPML, "pipeline", "run", str(pipeline), "--remote", server.url, "--json"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert list(result["steps"]) == ["ingest", "prepare", "curate", "train", "report", "gates", "persist", "score"]
    assert result["steps"]["persist"]["model"] == "fraud/1"
    assert client.job(result["job"])["kind"] == "pipeline"
    chain = client.lineage("fraud", alias="champion")["items"]
    assert result["steps"]["ingest"]["dataset"] in [node["id"] for node in chain]
    assert result["steps"]["score"]["rows"] == 12_000
    with pytest.raises(NotFound):
        client.resume_pipeline("job-00000000")
