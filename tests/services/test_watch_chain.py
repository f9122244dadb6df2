"""The watchful chain end to end on one store, as the monitoring issue asks: the data drifts from frame 7
on; the champion (a one-split stump trained on frames 1-6) scores frame 12 online; a `drift-alarm`
policy retrains the model's pipeline into a challenger; the challenger scores in the shadow of every
answer; labels arrive; the promotion policy refuses the challenger while a gate fails and promotes it
once the gates pass, the stump becoming the fallback. Each step is audited."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import crispml
from crispml.domain import AuditQuery, JobStatus
from crispml.local import Crispml
from crispml.services.pipelines import parse_pipeline
from crispml.services.synthesis import write_synthetic
from crispml.steps.synthetic import Drift
from tests.services.test_challengers import STUMP

ROWS = 6_000
PIPELINE = """
version: 1
name: watched-fraud
ingest: {source: {path: drifted.csv}, name: ccf, slices: 12}
curate: {algorithm: rf, frames: 1-6}
train: {name: fraud, algorithm: rf, frames: 1-6, weight: 10, params: {n_estimators: 20}}
report: {frames: 7-12}
gates: [{kpi: roc_auc, op: ">=", value: 0.5}]
persist: {alias: champion}
"""
POLICY = {"min_labelled": 1000, "margin": 0.01, "significance": 0.05, "mode": "auto"}


def _open(home: Path, monkeypatch: pytest.MonkeyPatch, min_labelled: int) -> Crispml:
    """The store with every champion answer shadowed, the promotion policy, and gates asking a realized
    ROC AUC of 0.6 on at least `min_labelled` labelled records of frames 7-12."""
    monkeypatch.setenv("CRISPML_SHADOW_SHARE", "1.0")
    monkeypatch.setenv("CRISPML_CHALLENGER_POLICY", json.dumps(POLICY))
    gates = {"dataset": "ccf", "frames": "7-12", "min_roc_auc": 0.6, "min_labelled": min_labelled}
    monkeypatch.setenv("CRISPML_PROMOTION_GATES", json.dumps(gates))
    return crispml.connect(home=home, user="watcher")


def test_a_drift_alarm_retrains_a_challenger_that_is_promoted_only_once_it_passes_the_gates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    data_file = home / "data" / "drifted.csv"
    write_synthetic(data_file, ROWS, seed=42, drift=Drift(from_frame=7, shift={"V3": 1.5, "V11": -2.0}))
    data = pd.read_csv(data_file)

    with _open(home, monkeypatch, min_labelled=10**9) as cml:
        job = cml.container.jobs.wait(cml.container.pipelines.submit(parse_pipeline(PIPELINE)).id, 120)
        assert job.status is JobStatus.SUCCEEDED, job.error
        curated = (job.result or {})["steps"]["curate"]["dataset"]
        stump = cml.train(curated, algorithm="rf", frames="1-6", name="fraud", params=STUMP)
        cml.persist(stump.ref, alias="champion")  # a weak champion, for the retrained forest to beat

        late = data.iloc[ROWS - ROWS // 12 :].drop(columns=["Class"])  # frame 12: V3 and V11 shifted
        cml.score("fraud@champion", records=late.to_dict(orient="records"))
        cml.container.input_log.flush()  # type: ignore[union-attr]  # as its writer does every few seconds
        cml.retrain.set_policy("fraud", ["drift-alarm"], PIPELINE)
        [trigger] = cml.retrain.check()
        [trigger] = cml.retrain.wait([trigger], 120)
        assert trigger.status == "succeeded", trigger.error
        assert set(trigger.figures["features"]) == {"V3", "V11"}
        challenger = trigger.challenger
        assert cml.lifecycle.get_model("fraud@challenger").ref == challenger
        assert cml.lifecycle.get_model("fraud@champion").ref == stump.ref

        # The champion answers the drifted frames; the challenger scores the same records in its shadow,
        # off the request path (closing the store waits for the shadow's writes).
        cml.score("fraud@champion", dataset=curated, frames="7-12")
        cml.label(dataset=curated, frames="7-12")

    with _open(home, monkeypatch, min_labelled=10**9) as cml:
        [refused] = cml.challenger_policy.check()
        assert refused.outcome == "refused" and refused.gate == "min_labelled", refused.reason
        figures = refused.figures
        assert figures["challenger_roc_auc"] > figures["champion_roc_auc"] and figures["p_value"] < 0.05
        assert cml.lifecycle.get_model("fraud@champion").ref == stump.ref  # a failed gate moves nothing

    with _open(home, monkeypatch, min_labelled=1000) as cml:
        [promoted] = cml.challenger_policy.check()
        assert promoted.outcome == "promoted", promoted.reason
        assert cml.lifecycle.get_model("fraud@champion").ref == challenger
        assert cml.lifecycle.get_model("fraud@fallback").ref == stump.ref
        print("chain:", trigger.figures["features"], figures["champion_roc_auc"], figures["challenger_roc_auc"])

        events, _ = cml.audit.events(AuditQuery(), limit=1000)
        actions = [e.action for e in reversed(events)]
        chain = ["retrain.triggered", "retrain.finished", "challenger.refused", "challenger.promoted"]
        assert [a for a in actions if a in chain] == chain
        assert cml.audit.verify() == len(events)
