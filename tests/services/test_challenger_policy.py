"""The challenger promotion policy through the Python API on a real store: a clearly better challenger
(a forest against a one-split stump) with enough paired labels is promoted in auto mode and the old
champion becomes the fallback; a copy of the champion is kept out (not significant); too few labels
wait; in propose mode a person approves or rejects; a failed gate refuses, naming it. Every decision is
audited, counted and queued for the webhooks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import crispml
from crispml.domain import AuditQuery
from crispml.errors import InvalidInput, NotFound
from crispml.local import Crispml
from crispml.settings import load_settings
from tests.conftest import crispml_source
from tests.services.test_challengers import STUMP, TINY

POLICY = {"min_labelled": 1000, "margin": 0.01, "significance": 0.05}
SECRET_ENV = "CRISPML_TEST_CHALLENGER_HOOK"


def _connect(home: Path, monkeypatch: pytest.MonkeyPatch, database_url: str | None = None, *, mode: str,
             gates: dict[str, object] | None = None) -> Crispml:  # fmt: skip
    monkeypatch.setenv("CRISPML_CHALLENGER_POLICY", json.dumps({**POLICY, "mode": mode}))
    if gates is None:
        monkeypatch.delenv("CRISPML_PROMOTION_GATES", raising=False)
    else:
        monkeypatch.setenv("CRISPML_PROMOTION_GATES", json.dumps(gates))
    monkeypatch.setenv(SECRET_ENV, "s3cret")
    return crispml.connect(home=home, database_url=database_url, user="tester")


def _stump_against_forest(cml: Crispml, source: Path, *, label: bool = True) -> str:
    """fraud/1 (a stump) champion, fraud/2 (a forest) challenger, both scored on frames 7-12 (the challenger
    as a shadow would); labelled unless `label` is False. The curated dataset's id."""
    cml.webhooks.add("http://127.0.0.1:9/hook", [f"challenger.{o}" for o in ("wait", "promoted", "kept",
                     "proposed", "approved", "rejected", "refused")], SECRET_ENV)  # fmt: skip
    curated = cml.curate(cml.prepare(cml.ingest(crispml_source(source), name="ccf").id).id, algorithm="rf",
                         frames="1-6").id  # fmt: skip
    for params, alias in ((STUMP, "champion"), (TINY, "challenger")):
        model = cml.train(curated, algorithm="rf", frames="1-6", name="fraud", params=params)
        cml.persist(model.ref, alias=alias)
        cml.score(model.ref, dataset=curated, frames="7-12")
    if label:
        cml.label(dataset=curated, frames="7-12")
    return curated


def _events(cml: Crispml) -> list[str]:
    events, _ = cml.audit.events(AuditQuery(action="challenger.*"), limit=100)
    return [e.action for e in reversed(events)]


def _queued(cml: Crispml) -> list[str]:
    return sorted(d.event for d in cml.webhooks.deliveries())


def _counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("crispml_challenger_decisions_total", {"model": "fraud", "outcome": outcome}) or 0


@pytest.fixture
def auto(home: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crispml]:
    with _connect(home, monkeypatch, database_url, mode="auto") as cml:
        yield cml


def test_a_clearly_better_challenger_is_promoted_and_the_old_champion_becomes_the_fallback(
    auto: Crispml, small_csv: Path
) -> None:
    cml = auto
    curated = _stump_against_forest(cml, small_csv, label=False)
    [waiting] = cml.challenger_policy.check()
    assert waiting.outcome == "wait" and waiting.figures["records"] == 0 and waiting.recorded
    assert "0 labelled records scored by both, 1000 needed" in waiting.reason
    assert cml.challenger_policy.check("fraud")[0].recorded is False  # the same wait is recorded once
    promoted_before = _counted("promoted")

    cml.label(dataset=curated, frames="7-12")
    [promoted] = cml.challenger_policy.check()
    figures = promoted.figures
    assert promoted.outcome == "promoted", promoted.reason
    assert figures["records"] == 12_000 and figures["positives"] > 10
    assert figures["challenger_roc_auc"] - figures["champion_roc_auc"] > 0.1 and figures["p_value"] < 0.001
    assert cml.lifecycle.get_model("fraud@champion").ref == "fraud/2"
    assert cml.lifecycle.get_model("fraud@fallback").ref == "fraud/1"
    with pytest.raises(NotFound):
        cml.lifecycle.get_model("fraud@challenger")
    assert _events(cml) == ["challenger.wait", "challenger.promoted"]
    [event] = cml.audit.events(AuditQuery(action="challenger.promoted"))[0]
    assert event.resource == "challenger:fraud" and event.after["figures"]["p_value"] == figures["p_value"]
    assert event.after["champion"] == "fraud/1" and event.after["challenger"] == "fraud/2"
    aliases, _ = cml.audit.events(AuditQuery(action="alias.*", resource="alias:fraud@*"), limit=3)
    assert {(e.action, e.resource) for e in aliases} == {("alias.set", "alias:fraud@champion"),
            ("alias.set", "alias:fraud@fallback"), ("alias.delete", "alias:fraud@challenger")}  # fmt: skip
    assert _queued(cml) == ["challenger.promoted", "challenger.wait"]
    assert _counted("promoted") == promoted_before + 1
    assert cml.challenger_policy.check() == []  # no challenger any more: nothing to decide
    assert cml.score("fraud@champion", records=cml.lifecycle.dataset_frame(curated).head(3)).batch.model_ref == "fraud/2"

    # A copy of the new champion as challenger: the same ranking, no significant gain, the champion stays.
    copy = cml.train(curated, algorithm="rf", frames="1-6", name="fraud", params=TINY)
    cml.persist(copy.ref, alias="challenger")
    cml.score(copy.ref, dataset=curated, frames="7-12")
    [kept] = cml.challenger_policy.check()
    assert kept.outcome == "kept" and kept.figures["p_value"] > 0.05, kept.reason
    assert abs(kept.figures["difference"]) < 0.01
    assert cml.lifecycle.get_model("fraud@champion").ref == "fraud/2"
    assert cml.audit.verify() > 0


def test_propose_mode_waits_for_a_person_who_approves_or_rejects(
    tmp_path: Path, small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _connect(tmp_path / "home", monkeypatch, mode="propose") as cml:
        curated = _stump_against_forest(cml, small_csv)
        with pytest.raises(NotFound, match="no open challenger proposal"):
            cml.challenger_policy.approve("fraud")
        [proposed] = cml.challenger_policy.check()
        assert proposed.outcome == "proposed" and proposed.proposal is not None
        assert cml.lifecycle.get_model("fraud@champion").ref == "fraud/1"  # nothing moves before a person says so
        [again] = cml.challenger_policy.check("fraud")
        assert (again.outcome, again.proposal, again.recorded) == ("proposed", proposed.proposal, False)
        [open_one] = cml.challenger_policy.proposals("fraud", "open")
        assert open_one.champion == "fraud/1" and open_one.challenger == "fraud/2"

        approved = cml.challenger_policy.approve("fraud", reason="looks right")
        assert approved.outcome == "approved" and approved.proposal == proposed.proposal
        assert cml.lifecycle.get_model("fraud@champion").ref == "fraud/2"
        assert cml.lifecycle.get_model("fraud@fallback").ref == "fraud/1"
        with pytest.raises(NotFound, match="no open challenger proposal"):
            cml.challenger_policy.reject("fraud")

        # The stump again as challenger is worse: kept. A forest with more trees is proposed and rejected.
        cml.persist("fraud/1", alias="challenger")
        assert cml.challenger_policy.check("fraud")[0].outcome == "kept"
        bigger = cml.train(curated, algorithm="rf", frames="1-6", name="fraud", params={"n_estimators": 20})
        cml.persist(bigger.ref, alias="challenger")
        cml.score(bigger.ref, dataset=curated, frames="7-12")
        [decided] = cml.challenger_policy.check("fraud")
        if decided.outcome == "proposed":
            rejected = cml.challenger_policy.reject("fraud", reason="not now")
            assert rejected.outcome == "rejected" and rejected.challenger == bigger.ref
            assert cml.challenger_policy.check("fraud")[0].outcome == "rejected"  # the pair is not proposed again
            assert cml.lifecycle.get_model("fraud@champion").ref == "fraud/2"
            assert "challenger.rejected" in _events(cml)
        [closed] = cml.challenger_policy.proposals("fraud", "approved")
        assert closed.decided_by == "tester" and closed.reason == "looks right"
        assert {"challenger.proposed", "challenger.approved", "challenger.kept"} <= set(_events(cml))
        assert {"challenger.proposed", "challenger.approved"} <= set(_queued(cml))
        with pytest.raises(InvalidInput, match="status 'done'"):
            cml.challenger_policy.proposals("fraud", "done")


def test_a_failed_gate_refuses_the_promotion_naming_the_gate(
    tmp_path: Path, small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gates = {"dataset": "ccf", "frames": "7-12", "min_roc_auc": 0.999}
    with _connect(tmp_path / "home", monkeypatch, mode="auto", gates=gates) as cml:
        _stump_against_forest(cml, small_csv)
        [refused] = cml.challenger_policy.check()
        assert refused.outcome == "refused" and refused.gate == "min_roc_auc", refused.reason
        assert "gate min_roc_auc 0.999 failed: fraud/2" in refused.reason
        assert cml.lifecycle.get_model("fraud@champion").ref == "fraud/1"
        assert cml.lifecycle.get_model("fraud@challenger").ref == "fraud/2"
        [event] = cml.audit.events(AuditQuery(action="challenger.refused"))[0]
        assert event.after["gate"] == "min_roc_auc" and event.after["figures"]["p_value"] < 0.05
        assert _queued(cml) == ["challenger.refused"]


def test_without_a_policy_the_check_says_which_setting_to_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRISPML_CHALLENGER_POLICY", raising=False)
    with crispml.connect(home=tmp_path / "home", user="tester") as cml:
        with pytest.raises(InvalidInput, match="CRISPML_CHALLENGER_POLICY"):
            cml.challenger_policy.check()
        cml.container.challenger_policy.check_quietly()  # the server's loop: nothing to do, nothing raised
    monkeypatch.setenv("CRISPML_CHALLENGER_POLICY", '{"mode": "sometimes"}')
    with pytest.raises(InvalidInput, match="CRISPML_CHALLENGER_POLICY"):
        load_settings()
