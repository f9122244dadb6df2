"""Retraining that triggers itself, through the Python API on a real store: a policy fires when its
condition holds, runs the model's pipeline as a job, and leaves a challenger whose lineage names the
trigger; the champion stays. Bad policies are refused and store nothing; of two evaluators on one
PostgreSQL database only one fires a given trigger."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import REGISTRY

from crispml.container import Container
from crispml.domain import AuditQuery, JobStatus
from crispml.errors import InvalidInput
from crispml.services.pipelines import parse_pipeline
from crispml.settings import Settings
from tests.api.conftest import CRISPML

PIPELINE = """
version: 1
name: small-fraud
ingest: {source: {path: creditcard.csv}, name: ccf, slices: 12}
curate: {algorithm: rf, frames: 1-6}
train: {name: fraud, algorithm: rf, frames: 1-6, weight: 10, params: {n_estimators: 20}}
report: {frames: 7-12}
gates: [{kpi: roc_auc, op: ">=", value: 0.5}]
persist: {alias: champion}
"""
FAILING = "name: quick\ndataset: ds-missing\ntrain: {name: NAME, params: {n_estimators: 5}}\n"
"""A pipeline whose run fails at once (its dataset does not exist): a trigger without training."""


@pytest.fixture
def world(tmp_path: Path, small_csv: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Container, str]]:
    """A store with champion fraud/1 (trained on frames 1-6) that scored frames 7-12 of its raw data;
    on SQLite, or on PostgreSQL for a test parametrized with `world="postgresql"`."""
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    url = request.getfixturevalue("postgres_url") if getattr(request, "param", "sqlite") == "postgresql" else None
    with Container(Settings(home=home, user="tester", database_url=url)) as c:  # type: ignore[call-arg]
        job = c.jobs.wait(c.pipelines.submit(parse_pipeline(PIPELINE)).id, 120)
        assert job.status is JobStatus.SUCCEEDED, job.error
        raw = job.result["steps"]["ingest"]["dataset"] if job.result else ""
        assert c.scoring.score("fraud@champion", dataset=raw, frames="7-12").batch.rows == 12_000
        yield c, raw


def _counted(model: str, kind: str, outcome: str) -> float:
    found = REGISTRY.get_sample_value("crispml_retrain_triggers_total",
                                      {"model": model, "condition": kind, "outcome": outcome})  # fmt: skip
    return found or 0.0


def test_enough_new_labels_retrain_the_model_into_a_challenger_and_leave_the_champion(
    world: tuple[Container, str],
) -> None:
    c, raw = world
    policy = c.retrain.set_policy("fraud", ["new-labels >= 500"], PIPELINE)
    assert policy.conditions == ("new-labels>=500",) and policy.cooldown_s == 3600
    assert c.retrain.check() == []  # no label yet
    fired_before = _counted("fraud", "new-labels", "succeeded")

    assert c.scoring.label(dataset=raw, frames="7-12").imported == 12_000
    [trigger] = c.retrain.check()
    assert trigger.kind == "new-labels" and trigger.condition == "new-labels>=500"
    assert trigger.figures["new_labels"] == 12_000 and trigger.figures["needed"] == 500
    assert trigger.figures["train_frames"] == "7,8,9,10,11,12"  # the newest labelled frames, as many as before
    [done] = c.retrain.wait([trigger], 120)
    job = c.jobs.get(trigger.job_id)
    assert job.kind == "retrain" and job.status is JobStatus.SUCCEEDED, job.error
    assert done.status == "succeeded" and done.challenger == "fraud/2"

    challenger = c.lifecycle.get_model("fraud@challenger")
    assert challenger.ref == "fraud/2" and challenger.frames == (7, 8, 9, 10, 11, 12)
    assert c.lifecycle.get_model("fraud@champion").ref == "fraud/1"  # promotion is not the trigger's call
    chain = c.lifecycle.lineage("fraud/2")
    [node] = [n for n in chain if n.kind == "trigger"]
    assert node.id == trigger.id and node.detail["condition"] == "new-labels>=500"
    assert node.detail["figures"]["new_labels"] == 12_000
    # and to the data it learned from: the pipeline read its source anew, the file the champion's data came from
    assert chain[-1].kind == "source" and chain[-1].id == c.lifecycle.get_dataset(raw).source_sha256
    events, _ = c.audit.events(AuditQuery(action="retrain.*"), limit=100)
    assert {e.action for e in events} == {"retrain.policy.set", "retrain.triggered", "retrain.finished"}
    finished = next(e for e in events if e.action == "retrain.finished")
    assert finished.resource == f"retrain-trigger:{trigger.id}"
    assert _counted("fraud", "new-labels", "fired") >= 1
    assert _counted("fraud", "new-labels", "succeeded") == fired_before + 1

    assert c.retrain.check() == []  # fired once: the cooldown holds, and no label arrived since fraud/2
    assert [t.id for t in c.retrain.triggers("fraud")] == [trigger.id]


@pytest.mark.parametrize("world", ["postgresql"], indirect=True)  # the SQLite store runs the test above
def test_a_realized_kpi_under_its_floor_triggers_a_retraining(world: tuple[Container, str]) -> None:
    c, raw = world
    c.retrain.set_policy("fraud", ["new-labels>=100000", "realized-roc_auc<0.6"], FAILING.replace("NAME", "fraud"))
    assert c.retrain.check() == []
    # Labels that say the opposite of the model: its highest scores are the legitimate records.
    scores = c.scoring.batch(c.scoring.score("fraud@champion", dataset=raw, frames="12").batch.id).scores
    truth = (scores["score"].rank(method="first") <= len(scores) / 2).astype(int)
    c.scoring.label(records=pd.DataFrame({"record_id": scores["record_id"], "label": truth}))
    [trigger] = c.retrain.check()
    assert trigger.kind == "realized" and trigger.condition == "realized-roc_auc<0.6"
    assert trigger.figures["realized"] < 0.6 and trigger.figures["model_version"] == "fraud/1"
    [done] = c.retrain.wait([trigger], 60)
    assert done.status == "failed" and "ds-missing" in (done.error or "")  # its pipeline's failure, recorded
    assert c.lifecycle.get_model("fraud@champion").ref == "fraud/1"


@pytest.mark.parametrize(
    ("when", "pipeline", "message"),
    [
        (["new-labels>=0"], PIPELINE, "N a whole number >= 1"),
        (["realized-accuracy<0.8"], PIPELINE, "the KPI must be one of"),
        (["realized-roc_auc>0.8"], PIPELINE, "a KPI floor is written with <"),
        (["drift>=1"], PIPELINE, "of no known kind"),
        ([], PIPELINE, "at least one condition"),
        (["new-labels>=5"], PIPELINE.replace("name: fraud,", "name: other,"), "trains model 'other', not 'fraud'"),
        (["new-labels>=5"], PIPELINE.replace("weight: 10", "wieght: 10"), "train.wieght: unknown key"),
    ],
)
def test_a_bad_policy_is_refused_by_name_and_stores_nothing(
    tmp_path: Path, when: list[str], pipeline: str, message: str
) -> None:
    with Container(Settings(home=tmp_path / "home", user="tester", database_url=None)) as c:  # type: ignore[call-arg]
        with pytest.raises(InvalidInput, match=message):
            c.retrain.set_policy("fraud", when, pipeline)
        with pytest.raises(InvalidInput, match="not a duration"):
            c.retrain.set_policy("fraud", [], PIPELINE, every="daily")
        assert c.retrain.list_policies() == []
        assert c.audit.events(AuditQuery(action="retrain.*"))[1] == 0


def test_of_two_evaluators_on_one_database_only_one_fires_each_trigger(postgres_url: str, tmp_path: Path) -> None:
    models = [f"m{i}" for i in range(4)]
    first, second = (Container(Settings(home=tmp_path / name, user=name, database_url=postgres_url))  # type: ignore[call-arg]
                     for name in ("api-1", "api-2"))  # fmt: skip
    try:
        for model in models:
            first.retrain.set_policy(model, [], FAILING.replace("NAME", model), every="1s")
        time.sleep(1.1)  # every policy is due
        start = threading.Barrier(2)
        fired: dict[str, list[str]] = {}

        def evaluate(c: Container) -> None:
            start.wait()
            fired[c.settings.user] = [t.model for t in c.retrain.check()]

        threads = [threading.Thread(target=evaluate, args=(c,)) for c in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(fired["api-1"] + fired["api-2"]) == models  # each model fired exactly once, by one of them
        triggers = first.retrain.triggers()
        assert sorted(t.model for t in triggers) == models
        first.retrain.wait(triggers, 60)
        second.retrain.wait(triggers, 60)
    finally:
        first.close()
        second.close()


def test_a_trigger_whose_process_died_is_recorded_failed_and_no_longer_blocks_its_policy(
    tmp_path: Path, small_csv: Path
) -> None:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    settings = Settings(home=home, user="tester", database_url=None)  # type: ignore[call-arg]
    with Container(settings) as c:
        c.retrain.set_policy("fraud", [], PIPELINE, every="1s", cooldown="0s")
    time.sleep(1.05)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CRISPML_")},
           "CRISPML_HOME": str(home), "CRISPML_USER": "tester", "CRISPML_CRASH_AT": "pipeline.ingest"}  # fmt: skip
    crashed = subprocess.run([CRISPML, "retrain", "check"], env=env, capture_output=True, timeout=120, check=False)
    assert crashed.returncode == -signal.SIGKILL  # killed mid-pipeline, its trigger left running
    with Container(settings) as c:
        [orphan] = c.retrain.triggers("fraud")
        assert orphan.status == "running"
        c.jobs.recover()  # as a server does at start-up: the job of the dead process is interrupted
        c.retrain.set_policy("fraud", ["new-labels>=1000000"], PIPELINE)  # so that the next check fires nothing
        assert c.retrain.check() == []
        [ended] = c.retrain.triggers("fraud")
        assert ended.status == "failed" and ended.error == f"its job {orphan.job_id} ended interrupted"
        assert c.audit.events(AuditQuery(action="retrain.finished"))[1] == 1
