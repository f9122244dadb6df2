"""Retraining triggered by what monitoring sees, through the Python API and `crispml retrain check` on a
real store: the generator shifts V3 and V11 from frame 7 on, a champion trained on frames 1-6 scores
records of frame 12 online, and a `drift-alarm` policy retrains it into a challenger whose lineage names
the trigger and the PSIs; an `estimated-KPI<FLOOR` policy fires on the CBPE estimate of its unlabelled
scores; a server's loop refreshes the drift and estimate metrics of the champions by itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client import REGISTRY

import crispml
from crispml.domain import AuditQuery, JobStatus
from crispml.errors import InvalidInput
from crispml.local import Crispml
from crispml.observability import metrics
from crispml.services.pipelines import parse_pipeline
from crispml.services.synthesis import write_synthetic
from crispml.settings import load_settings
from crispml.steps.synthetic import Drift
from tests.cli.conftest import run
from tests.conftest import wait_for
from tests.services.test_retraining import FAILING
from tests.services.test_webhooks import SECRET, Receiver

ROWS = 6_000
SHIFTED = {"V3": 1.5, "V11": -2.0}
PIPELINE = """
version: 1
name: drifting-fraud
ingest: {source: {path: drifted.csv}, name: ccf, slices: 12}
curate: {algorithm: rf, frames: 1-6}
train: {name: fraud, algorithm: rf, frames: 1-6, weight: 10, params: {n_estimators: 20}}
report: {frames: 7-12}
gates: [{kpi: roc_auc, op: ">=", value: 0.5}]
persist: {alias: champion}
"""


@pytest.fixture(scope="module")
def drifting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Crispml, str, pd.DataFrame]]:
    """Champion fraud/1, trained on frames 1-6 of drifted data by the pipeline the policies rerun; and
    the raw dataset's id and the data. One store for the module (training is the cost): its tests run in
    file order, each on what the one before left (records scored online, the policy's last firing)."""
    home = tmp_path_factory.mktemp("triggers") / "home"
    (home / "data").mkdir(parents=True)
    data = home / "data" / "drifted.csv"
    write_synthetic(data, ROWS, seed=42, drift=Drift(from_frame=7, shift=SHIFTED))
    with crispml.connect(home=home, user="watcher") as cml:
        c = cml.container
        job = c.jobs.wait(c.pipelines.submit(parse_pipeline(PIPELINE)).id, 120)
        assert job.status is JobStatus.SUCCEEDED, job.error
        raw = job.result["steps"]["ingest"]["dataset"] if job.result else ""
        yield cml, raw, pd.read_csv(data)


def test_a_drift_alarm_triggers_a_retraining_into_a_challenger_whose_lineage_names_the_psis(
    drifting: tuple[Crispml, str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    cml, _raw, data = drifting
    monkeypatch.setenv("CRISPML_TEST_HOOK_SECRET", SECRET)
    with Receiver() as receiver:
        cml.webhooks.add(receiver.url, ["retrain.triggered", "retrain.finished"], "CRISPML_TEST_HOOK_SECRET")
        early = data.iloc[: ROWS // 12].drop(columns=["Class"])  # frame 1: as in training
        cml.score("fraud@champion", records=early.to_dict(orient="records"))
        policy = cml.retrain.set_policy("fraud", ["drift-alarm"], PIPELINE)
        assert policy.conditions == ("drift-alarm",)
        assert cml.retrain.check() == []  # what it scored online so far looks like its training data

        late = data.iloc[ROWS - ROWS // 12 :].drop(columns=["Class"])  # frame 12: V3 and V11 shifted
        cml.score("fraud@champion", records=late.to_dict(orient="records"))
        cml.container.input_log.flush()  # type: ignore[union-attr]  # as its writer does every few seconds
        # `crispml retrain check` on the same store: it fires, runs the pipeline here and sends the webhooks
        env = {"CRISPML_HOME": str(cml.settings.home), "CRISPML_USER": "watcher", "CRISPML_DATABASE_URL": None}
        [fired] = run(["retrain", "check", "--json"], env).json
        trigger = cml.retrain.trigger(fired["id"])
        assert trigger.kind == "drift" and trigger.condition == "drift-alarm"
        figures = trigger.figures
        assert sorted(figures["features"]) == ["V11", "V3"]  # only the shifted features, by their PSI
        assert all(psi > figures["psi_alarm"] for psi in figures["features"].values())
        assert figures["levels"] == {"V3": "alarm", "V11": "alarm"}
        assert figures["model_version"] == "fraud/1" and figures["source"].startswith("records scored since")
        assert figures["rows"] == 2 * (ROWS // 12)  # both online batches: the policy never fired before
        print("drift-alarm fired:", figures["features"])  # the figures quoted in the closing note

        assert trigger.status == "succeeded" and trigger.challenger == "fraud/2", trigger.error
        assert cml.container.jobs.get(trigger.job_id).kind == "retrain"
        assert cml.container.lifecycle.get_model("fraud@champion").ref == "fraud/1"
        assert cml.container.lifecycle.get_model("fraud@challenger").ref == "fraud/2"
        [node] = [n for n in cml.container.lifecycle.lineage("fraud/2") if n.kind == "trigger"]
        assert node.id == trigger.id and node.detail["condition"] == "drift-alarm"
        assert node.detail["figures"]["features"] == figures["features"]

        actions = {e.action for e in cml.audit.events(AuditQuery(action="retrain.*"), limit=100)[0]}
        assert {"retrain.policy.set", "retrain.triggered", "retrain.finished"} <= actions
        counted = REGISTRY.get_sample_value(
            "crispml_retrain_triggers_total", {"model": "fraud", "condition": "drift", "outcome": "succeeded"}
        )
        assert counted == 1
        sent = [json.loads(r.body) for r in receiver.requests]  # sent before the command returned
        assert [b["event"] for b in sent] == ["retrain.triggered", "retrain.finished"]
        assert sent[0]["data"]["figures"]["features"] == figures["features"]
        assert sent[1]["data"]["challenger"] == "fraud/2"
    assert cml.retrain.check() == []  # fired once: the cooldown holds


def test_an_estimated_kpi_under_its_floor_triggers_a_retraining(drifting: tuple[Crispml, str, pd.DataFrame]) -> None:
    cml, raw, _ = drifting
    cml.score("fraud@champion", dataset=raw, frames="7-12")  # no label yet: only an estimate says how it does
    cml.retrain.set_policy("fraud", ["drift-psi>50", "estimated-roc_auc<0.1"], PIPELINE, cooldown="0s")
    assert cml.retrain.check() == []  # no PSI on ten bins reaches 50, and the estimate lies far above that floor
    fired = cml.retrain.get_policy("fraud").last_fired_at  # by the drift alarm: what it scored since counts
    assert fired is not None
    [estimate] = [r for r in cml.estimate("fraud/1", since=fired.isoformat()).rows if r["frame"] == "all"]
    floor = min(1.0, round(estimate["roc_auc"] + 0.01, 2))
    cml.retrain.set_policy("fraud", ["new-labels>=1", f"estimated-roc_auc < {floor}"], PIPELINE, cooldown="0s")
    [trigger] = cml.retrain.check()
    assert trigger.kind == "estimated" and trigger.condition == f"estimated-roc_auc<{floor:g}"
    figures = trigger.figures
    assert figures["estimated"] == pytest.approx(estimate["roc_auc"]) and figures["floor"] == floor
    low, high = figures["interval"]
    assert low <= figures["estimated"] <= high and figures["level"] == 0.99
    assert figures["unlabelled"] == 6 * (ROWS // 12)  # frames 7-12, not the records scored before the last firing
    assert figures["model_version"] == "fraud/1" and figures["since"] == fired.isoformat()
    print("estimated-roc_auc fired:", figures["estimated"], figures["interval"], "floor", floor)
    [done] = cml.retrain.wait([trigger], 120)
    assert done.status == "succeeded", done.error
    assert cml.container.lifecycle.get_model("fraud@champion").ref == "fraud/1"


def test_with_nothing_scored_online_since_it_fired_a_drift_policy_watches_the_unseen_frames(
    drifting: tuple[Crispml, str, pd.DataFrame],
) -> None:
    cml, _, _ = drifting
    cml.retrain.set_policy("fraud", ["drift-psi>=0.3"], FAILING.replace("NAME", "fraud"), cooldown="0s")
    [trigger] = cml.retrain.check()
    assert trigger.kind == "drift" and trigger.condition == "drift-psi>=0.3"
    figures = trigger.figures
    assert sorted(figures["features"]) == ["V11", "V3"] and min(figures["features"].values()) >= 0.3
    assert figures["rows"] == 6 * (ROWS // 12) and not figures["source"].startswith("records scored")
    print("drift-psi>=0.3 fired over frames 7-12:", figures["features"])
    [done] = cml.retrain.wait([trigger], 60)
    assert done.status == "failed" and "ds-missing" in (done.error or "")  # its pipeline's failure, recorded


def test_a_server_refreshes_the_champions_drift_and_estimate_metrics_by_itself(
    drifting: tuple[Crispml, str, pd.DataFrame],
) -> None:
    cml, _, _ = drifting
    for gauge in (metrics.DRIFT_PSI, metrics.DRIFT_LEVEL, metrics.ESTIMATED_KPI):
        gauge.clear()  # what earlier calls of monitor and estimate set
    cml.container.settings.monitor_refresh_interval_s = 0.2
    cml.container.settings.retrain_check_interval_s = 0  # this test watches the monitoring loop only
    cml.container.start_background()

    def exposed() -> str:
        return metrics.exposition().decode()

    estimated = 'crispml_estimated_kpi{bound="estimate",frame="all",kpi="roc_auc",model="fraud",version="1"}'
    wait_for(lambda: estimated in exposed(), timeout=30)  # a refresh sets the drift gauges, then the estimate's
    text = exposed()
    assert 'crispml_drift_level{feature="V3",model="fraud",version="1"} 2.0' in text  # records scored online
    assert 'crispml_drift_level{feature="V1",model="fraud",version="1"} 0.0' in text
    watched = [line for line in text.splitlines() if line.startswith(("crispml_drift_", "crispml_estimated_kpi"))]
    assert watched and not [line for line in watched if 'version="2"' in line]  # champions only, not the challenger


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("drift-psi<0.2", "a PSI level is written with > or >="),
        ("drift-psi>0", "the PSI level must be a number above 0"),
        ("drift-ks>0.2", "write drift-alarm .* or drift-psi>0.25"),
        ("drift-alarms", "write drift-alarm .* or drift-psi>0.25"),
        ("estimated-pr_auc<0.8", "the KPI must be one of roc_auc, precision, recall, f1"),
        ("estimated-roc_auc>0.8", "a KPI floor is written with <"),
        ("estimated-f1<1.5", "the floor must be a number from 0 to 1"),
        ("drift>=1", "of no known kind; .*estimated-roc_auc<0.85 .*drift-alarm, drift-psi>0.25"),
    ],
)
def test_bad_drift_and_estimate_conditions_are_refused_by_name_and_store_nothing(
    tmp_path: Path, when: str, message: str
) -> None:
    with crispml.connect(home=tmp_path / "home", user="tester") as cml:
        with pytest.raises(InvalidInput, match=message):
            cml.retrain.set_policy("fraud", [when], PIPELINE)
        assert cml.retrain.list_policies() == []
        assert cml.audit.events(AuditQuery(action="retrain.*"))[1] == 0
        assert cml.retrain.set_policy("fraud", ["drift-psi >= 0.5"], PIPELINE).conditions == ("drift-psi>=0.5",)


def test_a_bad_refresh_window_is_refused_by_its_setting_name() -> None:
    with pytest.raises(InvalidInput, match="setting CRISPML_MONITOR_REFRESH_WINDOW"):
        load_settings(monitor_refresh_window="hourly")
