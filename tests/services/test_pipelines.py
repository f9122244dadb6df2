"""Pipelines as code over the local store: one durable job runs the cycle step by step and leaves what the
steps run by hand leave; a bad file or a failing gate stops it early; a crash resumes at the next step."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crispml.container import Container
from crispml.domain import AuditQuery, Job, JobStatus, Stage
from crispml.errors import InvalidInput
from crispml.services.base import new_id
from crispml.services.pipelines import parse_pipeline
from crispml.settings import Settings

SMALL = """
version: 1
name: small-fraud
ingest: {source: {path: creditcard.csv}, name: ccf, slices: 12}
curate: {algorithm: rf, frames: 1-6}
train: {name: NAME, algorithm: rf, frames: 1-6, weight: 10, params: {n_estimators: 10}}
gates: [{kpi: roc_auc, op: ">=", value: 0.5}]
persist: {alias: champion}
"""
SCORED = SMALL + "report: {frames: 7-12}\nscore: {frames: 7-12}\nlabel: {frames: 7-12}\nverify: {frames: 7-12}\n"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Path:
    home = tmp_path_factory.mktemp("pipelines") / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    return home


@pytest.fixture(scope="module")
def c(home: Path) -> Iterator[Container]:
    settings = Settings(home=home, user="tester", database_url=None)  # type: ignore[call-arg]
    with Container(settings) as container:
        yield container


def run(c: Container, text: str) -> Job:
    job = c.pipelines.submit(parse_pipeline(text))
    return c.jobs.wait(job.id, 120)


def counts(c: Container, model: str) -> tuple[int, int]:
    return len(c.lifecycle.list_datasets()), len(c.lifecycle.list_models(model))


def test_a_pipeline_runs_as_one_job_and_leaves_what_the_steps_leave(c: Container) -> None:
    job = run(c, SCORED.replace("NAME", "fraud"))
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.kind == "pipeline" and job.progress == 1.0
    steps = job.result["steps"] if job.result else {}
    assert list(steps) == ["ingest", "prepare", "curate", "train", "report", "gates", "persist", "score", "label",
                           "verify"]  # fmt: skip
    champion = c.lifecycle.get_model("fraud@champion")
    assert champion.ref == steps["persist"]["model"] == "fraud/1" and champion.registered
    chain = c.lifecycle.lineage(champion.ref)
    raw = c.lifecycle.get_dataset(steps["ingest"]["dataset"])
    assert raw.stage is Stage.RAW and raw.id in [node.id for node in chain]  # the chain reaches the raw data
    assert steps["score"]["rows"] == steps["label"]["imported"] == 12_000
    assert {row["frame"] for row in steps["verify"]["rows"]} == {7, 8, 9, 10, 11, 12, "all"}
    _, summaries = c.operations.perf()
    assert {"ingest", "prepare", "curate", "train", "report", "persist", "score", "label", "verify"} <= {
        s.method for s in summaries
    }
    events, _ = c.audit.events(AuditQuery(), limit=1000)
    assert {"model.train", "model.register", "alias.set", "labels.import"} <= {e.action for e in events}


def test_a_bad_file_is_refused_before_anything_runs(c: Container) -> None:
    before = (counts(c, "nothing"), len(c.jobs.list_jobs()))
    with pytest.raises(InvalidInput, match=r"train\.algorithm: unknown algorithm 'xgb'"):
        c.pipelines.submit(parse_pipeline(SMALL.replace("rf, frames: 1-6, weight", "xgb, frames: 1-6, weight")))
    with pytest.raises(InvalidInput, match=r"pipeline ingest\.slices: .*integer"):
        parse_pipeline(SMALL.replace("slices: 12", "slices: twelve"))
    with pytest.raises(InvalidInput, match=r"pipeline persist\.alais: unknown key"):
        parse_pipeline(SMALL.replace("persist: {alias", "persist: {alais"))
    assert (counts(c, "nothing"), len(c.jobs.list_jobs())) == before


def test_a_failing_gate_stops_before_persist_naming_the_gate(c: Container) -> None:
    text = SMALL.replace("NAME", "gated").replace("value: 0.5", "value: 1.0").replace(">=", ">")
    job = run(c, text.replace("ingest: {source: {path: creditcard.csv}, name: ccf, slices: 12}", "dataset: ccf/1"))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error["title"] == "GateFailed"
    assert job.error["detail"].startswith("gate roc_auc > 1 failed: roc_auc is 0.")
    assert "stopped before persist" in job.error["detail"]
    assert list((job.result or {})["steps"]) == ["prepare", "curate", "train", "report"]
    [model] = c.lifecycle.list_models("gated")
    assert not model.registered and model.aliases == ()


def test_a_crashed_pipeline_resumes_at_the_next_step(c: Container, home: Path) -> None:
    pipeline = home / "resume.yaml"
    pipeline.write_text(SMALL.replace("NAME", "resumed"), encoding="utf-8")
    env = {**os.environ, "CRISPML_HOME": str(home), "CRISPML_CRASH_AT": "pipeline.curate"}
    env.pop("CRISPML_DATABASE_URL", None)
    crispml = str(Path(sys.executable).with_name("crispml"))
    done = subprocess.run([crispml, "pipeline", "run", str(pipeline), "--json"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == -9, done.stderr  # killed at the crash point, after curate was recorded
    assert c.jobs.recover()  # the dead process's job is marked interrupted
    [crashed] = [j for j in c.jobs.list_jobs(JobStatus.INTERRUPTED) if j.kind == "pipeline"]
    assert list((crashed.result or {})["steps"]) == ["ingest", "prepare", "curate"]
    datasets, models = counts(c, "resumed")
    assert models == 0

    resumed = c.jobs.wait(c.pipelines.resume(crashed.id).id, 120)
    assert resumed.status is JobStatus.SUCCEEDED, resumed.error
    assert resumed.params["resumes"] == crashed.id
    assert counts(c, "resumed") == (datasets, 1)  # no step before train ran again
    steps = (resumed.result or {})["steps"]
    assert steps["curate"] == (crashed.result or {})["steps"]["curate"]
    assert c.lifecycle.get_model("resumed@champion").dataset_id == steps["curate"]["dataset"]


def test_only_an_ended_unfinished_pipeline_job_resumes(c: Container) -> None:
    from crispml.errors import Conflict, NotFound

    finished = next(j for j in c.jobs.list_jobs(JobStatus.SUCCEEDED) if j.kind == "pipeline")
    with pytest.raises(Conflict, match="only an ended, unfinished pipeline resumes"):
        c.pipelines.resume(finished.id)
    with pytest.raises(NotFound):
        c.pipelines.resume(new_id("job"))
