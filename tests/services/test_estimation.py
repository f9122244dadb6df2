"""Performance before labels (CBPE): estimates of unlabelled scores, and verify's estimate beside the realized
KPIs once labels arrive. One store for the module: a model trained on history, scoring new data without
drift and new data whose fraud pattern changes from frame 7 on.

The data: the synthetic generator's rows with most ordinary ones left out (about 2 % fraud, some 29 frauds
per frame of 1,360 rows), so that a frame's KPIs are measured well enough to tell a changed pattern from
luck. The pattern change is concept drift, the kind only labels reveal: from frame 7 on, the records that
look like fraud are ordinary and as many ordinary-looking records are fraud.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import crispml
from crispml.client import Client
from crispml.domain import AuditQuery, SourceSpec
from crispml.errors import IntegrityFailure, InvalidInput
from crispml.local import Crispml
from crispml.steps.synthetic import synthesize
from tests.api.conftest import Server
from tests.cli.conftest import run
from tests.conftest import FAST_RF

CHECKED = ("roc_auc", "precision", "recall")
CHANGED_FROM = 7


def _frames(rows: int) -> np.ndarray:
    """The frames ingest cuts 12 slices into (equal row counts in row order)."""
    return np.minimum(np.arange(rows) // (rows // 12) + 1, 12)


def _data(seed: int, pattern_changes: bool = False) -> pd.DataFrame:
    """About 16,350 synthetic rows at some 2 % fraud; with `pattern_changes`, concept drift from frame 7."""
    rows = synthesize(200_000, seed)
    rng = np.random.default_rng(seed)
    fraud = rows["Class"].to_numpy() == 1
    kept = np.sort(np.concatenate([np.flatnonzero(fraud), rng.choice(np.flatnonzero(~fraud), 16_000, replace=False)]))
    rows = rows.iloc[kept].reset_index(drop=True)
    if pattern_changes:
        late = _frames(len(rows)) >= CHANGED_FROM
        was = np.flatnonzero(late & (rows["Class"].to_numpy() == 1))
        now = rng.choice(np.flatnonzero(late & (rows["Class"].to_numpy() == 0)), was.size, replace=False)
        rows.loc[was, "Class"] = 0
        rows.loc[now, "Class"] = 1
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Trained models, new data scored (not yet labelled), and the estimates made before any label."""
    folder = tmp_path_factory.mktemp("estimation")
    files = {}
    for name, seed, changes in (("history", 1, False), ("fresh", 2, False), ("changed", 3, True)):
        files[name] = folder / f"{name}.csv"
        _data(seed, changes).to_csv(files[name], index=False)
    home = folder / "home"
    with crispml.connect(home=home, user="tester") as cml:
        raw = cml.ingest(SourceSpec(path=str(files["history"])), name="history")
        curated = cml.curate(cml.prepare(raw.id).id, algorithm="rf", frames="1-6")
        models = {}
        for name in ("fraud", "shifty"):
            models[name] = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name=name, params=FAST_RF)
            cml.persist(models[name].ref, alias="champion")
        fresh = cml.ingest(SourceSpec(path=str(files["fresh"])), name="fresh")
        changed = cml.ingest(SourceSpec(path=str(files["changed"])), name="changed")
        cml.score("fraud@champion", dataset=fresh.id, frames="1-3,7-12")
        cml.score("shifty@champion", dataset=changed.id, frames="4-12")
        before = {
            "fraud": cml.estimate("fraud@champion", frames="7-12"),
            "shifty": cml.estimate("shifty@champion", frames="4-12"),
        }
        cml.label(dataset=fresh.id, frames="7-12")
        cml.label(dataset=changed.id, frames="4-12")
        yield {"cml": cml, "home": home, "models": models, "before": before, "fresh": fresh}


def _by_frame(rows: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {row["frame"]: row for row in rows}


def test_training_stores_a_calibration_fitted_on_the_holdout(world: dict[str, Any]) -> None:
    model = world["models"]["fraud"]
    calibration = model.metrics["calibration"]
    # Weighted 10:1, the forest's scores are no probabilities: the holdout (frames 7-12) says so and maps them.
    assert calibration["method"] in ("platt", "isotonic")
    evidence = calibration["evidence"]
    assert evidence["spiegelhalter_p"] < 0.05
    assert evidence["holdout_rows"] == sum(model.metrics["per_frame"][str(f)]["rows"] for f in range(7, 13))
    assert evidence["brier_calibrated"] < evidence["brier_raw"]
    events, _ = world["cml"].audit.events(AuditQuery(action="model.train", resource=f"model:{model.ref}"))
    assert events[0].after["calibration_sha256"] == calibration["sha256"]
    stored = world["home"] / "artifacts" / "models" / f"{calibration['sha256']}.calibration.json"
    assert stored.exists()
    assert b"pickle" not in stored.read_bytes() and stored.read_bytes().startswith(b"{")


def test_estimates_cover_every_unlabelled_frame_before_labels(world: dict[str, Any]) -> None:
    estimation = world["before"]["fraud"]
    rows = _by_frame(estimation.rows)
    assert list(rows) == [7, 8, 9, 10, 11, 12, "all"]
    assert estimation.warnings == []
    for frame, row in rows.items():
        assert row["model"] == world["models"]["fraud"].ref and row["calibration"] != "none"
        assert row["unlabelled"] == row["rows"] > 1000, frame
        for kpi in (*CHECKED, "f1"):
            low, high = row["interval"][kpi]
            assert 0 <= low <= row[kpi] <= high <= 1, (frame, kpi, row)
        confusion = row["expected_confusion"]
        assert sum(confusion.values()) == pytest.approx(row["rows"])
        assert confusion["tp"] + confusion["fn"] == pytest.approx(row["expected_positives"])
    # The whole is measured more closely than any of its frames.
    width = {f: r["interval"]["recall"][1] - r["interval"]["recall"][0] for f, r in rows.items()}
    assert width["all"] < min(w for f, w in width.items() if f != "all")


def test_once_labelled_the_realized_kpis_lie_within_the_intervals_without_drift(world: dict[str, Any]) -> None:
    cml: Crispml = world["cml"]
    verification = cml.verify("fraud@champion", frames="7-12")
    rows = _by_frame(verification.rows)
    before = _by_frame(world["before"]["fraud"].rows)
    for frame in range(7, 13):
        estimate = rows[frame]["estimate"]
        assert estimate is not None and estimate["rows"] == rows[frame]["scored"]
        for kpi in CHECKED:
            found = estimate["kpis"][kpi]
            assert found["estimated"] == pytest.approx(before[frame][kpi])  # labels do not move an estimate
            assert found["realized"] == rows[frame][kpi]
            assert found["error"] == pytest.approx(found["realized"] - found["estimated"])
            assert found["within_interval"], (frame, kpi, found)
    positives = rows["all"]["estimate"]["positives"]
    assert positives["realized"] == rows["all"]["positives"]
    assert positives["estimated"] == pytest.approx(positives["realized"], rel=0.2)
    errors = rows["all"]["estimate"]["mean_absolute_error"]
    assert errors["roc_auc"] < 0.03 and errors["recall"] < 0.08
    # Every scored record of frames 7-12 is labelled now: nothing is left to estimate there.
    assert cml.estimate("fraud@champion", frames="7-12").rows == []


def test_where_the_fraud_pattern_changed_the_realized_kpis_leave_the_intervals(world: dict[str, Any]) -> None:
    verification = world["cml"].verify("shifty@champion")
    rows = _by_frame(verification.rows)
    for frame in range(CHANGED_FROM, 13):
        kpis = rows[frame]["estimate"]["kpis"]
        assert not any(kpis[kpi]["within_interval"] for kpi in CHECKED), (frame, kpis)
        # The estimate still promises what the model did before; the labels say it fails.
        assert kpis["roc_auc"]["estimated"] > 0.9 > 0.65 > kpis["roc_auc"]["realized"]
    # Frames 4-6 of the same data, before the change: the estimate is as close as on data without drift.
    error = {
        changed: np.mean([abs(rows[f]["estimate"]["kpis"]["roc_auc"]["error"]) for f in frames])
        for changed, frames in ((False, range(4, CHANGED_FROM)), (True, range(CHANGED_FROM, 13)))
    }
    assert error[False] < 0.05 < 0.4 < error[True]


def test_a_model_without_calibration_is_estimated_from_raw_scores_with_a_warning(world: dict[str, Any]) -> None:
    cml: Crispml = world["cml"]
    # Trained on every frame, it has no holdout to calibrate on.
    model = cml.train(world["fresh"].id, algorithm="rf", frames="1-12", weight=10, name="everything", params=FAST_RF)
    assert model.metrics["calibration"] == {"method": "none", "sha256": None, "evidence": {}}
    cml.score(model.ref, dataset=world["fresh"].id, frames="1-2")
    estimation = cml.estimate(model.ref)
    assert [row["frame"] for row in estimation.rows] == [1, 2, "all"]
    assert {row["calibration"] for row in estimation.rows} == {"none"}
    assert len(estimation.warnings) == 1 and "raw scores as probabilities" in estimation.warnings[0]


def test_bad_requests_are_refused_by_name(world: dict[str, Any]) -> None:
    cml: Crispml = world["cml"]
    with pytest.raises(InvalidInput, match="since 'yesterday'") as since:
        cml.estimate("fraud@champion", since="yesterday")
    assert since.value.field == "since"
    with pytest.raises(InvalidInput, match="level") as level:
        cml.estimate("fraud@champion", level=1.0)
    assert level.value.field == "level"
    with pytest.raises(InvalidInput, match="frame 13"):
        cml.estimate("fraud@champion", frames="13")
    # Scores of the last hour: those of the fixture; none in the future.
    assert [r["frame"] for r in cml.estimate("fraud@champion", since="1h").rows] == [1, 2, 3, "all"]
    assert cml.estimate("fraud@champion", since="2999-01-01T00:00:00").rows == []


def test_rest_client_and_cli_answer_alike_and_export_gauges(world: dict[str, Any]) -> None:
    cml: Crispml = world["cml"]
    local = cml.estimate("fraud@champion", frames="1-3", level=0.9)
    server = Server(world["home"], None).start()
    try:
        with Client(server.url, timeout=120) as api:
            remote = api.estimate("fraud@champion", frames="1-3", level=0.9)
        metrics = httpx.get(f"{server.url}/metrics").text
        refused = httpx.get(f"{server.url}/api/v1/reports/estimate", params={"model": "fraud@champion", "level": 2})
        command = ["estimate", "fraud@champion", "--frames", "1-3", "--level", "0.9", "--json", "--remote", server.url]
        through_server = run(command, {"CRISPML_HOME": str(world["home"].parent / "unused")}).json
    finally:
        server.stop()
    assert remote["rows"] == [_jsonable(row) for row in local.rows] == through_server["rows"]
    assert refused.status_code == 422
    version = world["models"]["fraud"].version
    assert f'crispml_estimated_kpi{{bound="low",frame="2",kpi="recall",model="fraud",version="{version}"}}' in metrics
    env = {"CRISPML_HOME": str(world["home"]), "CRISPML_USER": "cli-tester", "CRISPML_DATABASE_URL": None}
    ran = run(["estimate", "fraud@champion", "--frames", "1-3", "--level", "0.9", "--json"], env)
    assert ran.json["rows"] == remote["rows"]
    table = run(["estimate", "fraud@champion", "--frames", "1-3"], env).stdout
    assert "estimate of fraud@champion" in table and "recall" in table
    bad = run(["estimate", "fraud@champion", "--since", "soon"], env, expect=None)
    assert bad.code != 0 and "since 'soon'" in bad.text


def test_a_modified_calibration_file_is_refused(world: dict[str, Any]) -> None:
    cml: Crispml = world["cml"]
    sha256 = world["models"]["fraud"].metrics["calibration"]["sha256"]
    stored = world["home"] / "artifacts" / "models" / f"{sha256}.calibration.json"
    original = stored.read_bytes()
    try:
        stored.write_bytes(original.replace(b'"method":"', b'"method": "', 1))
        with pytest.raises(IntegrityFailure, match="modified"):
            cml.estimate("fraud@champion", frames="1-3")
    finally:
        stored.write_bytes(original)
    assert cml.estimate("fraud@champion", frames="1-3").rows


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(row)))
