"""The challenger promotion policy through the Python API on a real store: a clearly better challenger
(a forest against a one-split stump) with enough paired labels is promoted in auto mode and the old
champion becomes the fallback; a copy of the champion is kept out (not significant); too few labels
wait; in propose mode a person approves or rejects; a failed gate refuses, naming it. Every decision is
audited, counted and queued for the webhooks."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import crispml
from crispml.container import Container
from crispml.contract.promotion import ChallengerPolicy
from crispml.domain import AuditQuery
from crispml.errors import InvalidInput, NotFound
from crispml.local import Crispml
from crispml.services.challenger_policy import OUTCOMES
from crispml.settings import Settings, load_settings
from tests.conftest import FAST_RF, crispml_source
from tests.services.test_challengers import STUMP

POLICY = {"min_labelled": 1000, "margin": 0.01, "significance": 0.05}
SECRET_ENV = "CRISPML_TEST_CHALLENGER_HOOK"
DEEPER = {**FAST_RF, "max_depth": 8}
"""(A forest of 5 trees, test_challengers' TINY, took 25-30 s to train here; one of 20 about 2 s.)"""


@pytest.fixture(scope="session")  # also the REST test's (tests/api/test_challenger_policy_routes.py)
def template(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Path:
    """A store, made once: fraud/1 (a one-split stump) champion, fraud/2 (a forest) challenger,
    fraud/3 (a copy of fraud/2) and fraud/4 (a forest of deeper trees), each of them scored on frames 7-12 (as a
    shadow would), which are labelled; a webhook target subscribed to every challenger event."""
    home = tmp_path_factory.mktemp("policy") / "home"
    os.environ.setdefault(SECRET_ENV, "s3cret")  # the webhook target's secret (the outbox is what is checked)
    with crispml.connect(home=home, user="tester") as cml:
        cml.webhooks.add("http://127.0.0.1:9/hook", [f"challenger.{o}" for o in OUTCOMES], SECRET_ENV)
        raw = cml.ingest(crispml_source(small_csv), name="ccf").id
        curated = cml.curate(cml.prepare(raw).id, algorithm="rf", frames="1-6").id
        for params, alias in ((STUMP, "champion"), (FAST_RF, "challenger"), (FAST_RF, None), (DEEPER, None)):
            model = cml.train(curated, algorithm="rf", frames="1-6", name="fraud", params=params)
            if alias is not None:
                cml.persist(model.ref, alias=alias)
            cml.score(model.ref, dataset=curated, frames="7-12")
        cml.label(dataset=curated, frames="7-12")
    return home


@contextmanager
def _store(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, gates: dict[str, object] | None = None,
           **policy: object) -> Iterator[Crispml]:  # fmt: skip
    """A copy of the template store, opened with this policy (over `POLICY`) and these promotion gates."""
    home = tmp_path / "home"
    if not home.exists():
        shutil.copytree(template, home)
    monkeypatch.setenv("CRISPML_CHALLENGER_POLICY", json.dumps({**POLICY, **policy}))
    if gates is None:
        monkeypatch.delenv("CRISPML_PROMOTION_GATES", raising=False)
    else:
        monkeypatch.setenv("CRISPML_PROMOTION_GATES", json.dumps(gates))
    with crispml.connect(home=home, user="tester") as cml:
        yield cml


def _events(cml: Crispml) -> list[str]:
    events, _ = cml.audit.events(AuditQuery(action="challenger.*"), limit=100)
    return [e.action for e in reversed(events)]


def _queued(cml: Crispml) -> list[str]:
    return sorted(d.event for d in cml.webhooks.deliveries())


def _counted(outcome: str) -> float:
    return REGISTRY.get_sample_value("crispml_challenger_decisions_total", {"model": "fraud", "outcome": outcome}) or 0


def _champion(cml: Crispml) -> str:
    return cml.lifecycle.get_model("fraud@champion").ref


def test_a_clearly_better_challenger_is_promoted_and_the_old_champion_becomes_the_fallback(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _store(template, tmp_path, monkeypatch, mode="auto", min_labelled=50_000) as cml:
        [waiting] = cml.challenger_policy.check()
        assert waiting.outcome == "wait" and waiting.figures["records"] == 12_000 and waiting.recorded
        assert "12000 labelled records scored by both, 50000 needed" in waiting.reason
        assert cml.challenger_policy.check("fraud")[0].recorded is False  # the same wait is recorded once
        assert _champion(cml) == "fraud/1"
    promoted_before = _counted("promoted")
    with _store(template, tmp_path, monkeypatch, mode="auto") as cml:
        [promoted] = cml.challenger_policy.check()
        figures = promoted.figures
        assert promoted.outcome == "promoted", promoted.reason
        assert figures["records"] == 12_000 and figures["positives"] > 10
        assert figures["challenger_roc_auc"] - figures["champion_roc_auc"] > 0.1 and figures["p_value"] < 0.001
        assert _champion(cml) == "fraud/2"
        assert cml.lifecycle.get_model("fraud@fallback").ref == "fraud/1"
        with pytest.raises(NotFound):
            cml.lifecycle.get_model("fraud@challenger")
        assert _events(cml) == ["challenger.wait", "challenger.promoted"]
        [event] = cml.audit.events(AuditQuery(action="challenger.promoted"))[0]
        assert event.resource == "challenger:fraud" and event.after["figures"]["p_value"] == figures["p_value"]
        assert (event.after["champion"], event.after["challenger"], event.after["environment"]) == (
            "fraud/1", "fraud/2", "dev")  # fmt: skip
        aliases, _ = cml.audit.events(AuditQuery(action="alias.*", resource="alias:fraud@*"), limit=3)
        assert {(e.action, e.resource) for e in aliases} == {("alias.set", "alias:fraud@champion"),
                ("alias.set", "alias:fraud@fallback"), ("alias.delete", "alias:fraud@challenger")}  # fmt: skip
        assert _queued(cml) == ["challenger.promoted", "challenger.wait"]
        assert _counted("promoted") == promoted_before + 1
        assert cml.challenger_policy.check() == []  # no challenger any more: nothing to decide
        features = {f"V{i}": 0.0 for i in range(1, 29)}
        assert cml.score("fraud@champion", records=[{"Time": 0.0, "Amount": 1.0, **features}]).batch.model_ref == (
            "fraud/2")  # fmt: skip

        # A copy of the new champion as challenger: the same ranking, no significant gain; the champion stays.
        cml.persist("fraud/3", alias="challenger")
        [kept] = cml.challenger_policy.check()
        assert kept.outcome == "kept" and kept.figures["p_value"] > 0.05, kept.reason
        assert abs(kept.figures["difference"]) < 0.01
        assert _champion(cml) == "fraud/2"
        assert cml.audit.verify() > 0


def test_propose_mode_waits_for_a_person_who_rejects_or_approves(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with _store(template, tmp_path, monkeypatch, mode="propose") as cml:
        with pytest.raises(NotFound, match="no open challenger proposal"):
            cml.challenger_policy.approve("fraud")
        [proposed] = cml.challenger_policy.check()
        assert proposed.outcome == "proposed" and proposed.proposal is not None
        assert _champion(cml) == "fraud/1"  # nothing moves before a person says so
        [again] = cml.challenger_policy.check("fraud")
        assert (again.outcome, again.proposal, again.recorded) == ("proposed", proposed.proposal, False)
        [open_one] = cml.challenger_policy.proposals("fraud", "open")
        assert (open_one.champion, open_one.challenger, open_one.proposed_by) == ("fraud/1", "fraud/2", "tester")

        rejected = cml.challenger_policy.reject("fraud", reason="not before the audit")
        assert rejected.outcome == "rejected" and _champion(cml) == "fraud/1"
        assert cml.challenger_policy.check("fraud")[0].outcome == "rejected"  # the pair is not proposed again
        with pytest.raises(NotFound, match="no open challenger proposal"):
            cml.challenger_policy.approve("fraud")

        cml.persist("fraud/4", alias="challenger")  # a new challenger: a new pair, decided anew
        [bigger] = cml.challenger_policy.check("fraud")
        assert bigger.outcome == "proposed" and bigger.challenger == "fraud/4", bigger.reason
        # Another challenger before anyone decided: that proposal is superseded, the new pair proposed.
        cml.persist("fraud/3", alias="challenger")
        [latest] = cml.challenger_policy.check("fraud")
        assert latest.outcome == "proposed" and latest.challenger == "fraud/3" and latest.proposal != bigger.proposal
        [superseded] = cml.challenger_policy.proposals("fraud", "superseded")
        assert superseded.id == bigger.proposal and superseded.challenger == "fraud/4"

        approved = cml.challenger_policy.approve("fraud", reason="looks right")
        assert approved.outcome == "approved" and approved.proposal == latest.proposal
        assert _champion(cml) == "fraud/3"
        assert cml.lifecycle.get_model("fraud@fallback").ref == "fraud/1"
        [closed] = cml.challenger_policy.proposals("fraud", "approved")
        assert (closed.decided_by, closed.reason) == ("tester", "looks right") and closed.decided_at is not None
        decided = ["challenger.proposed", "challenger.rejected", "challenger.proposed", "challenger.proposed",
                   "challenger.approved"]  # fmt: skip
        assert _events(cml) == [*decided[:3], "challenger.proposal.superseded", *decided[3:]]
        assert _queued(cml) == sorted(decided)  # the webhooks hear of decisions
        with pytest.raises(InvalidInput, match="status 'done'"):
            cml.challenger_policy.proposals("fraud", "done")


def test_a_failed_gate_refuses_the_promotion_naming_the_gate(
    template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gates = {"dataset": "ccf", "frames": "7-12", "min_roc_auc": 0.999}
    with _store(template, tmp_path, monkeypatch, mode="auto", gates=gates) as cml:
        [refused] = cml.challenger_policy.check()
        assert refused.outcome == "refused" and refused.gate == "min_roc_auc", refused.reason
        assert "gate min_roc_auc 0.999 failed: fraud/2" in refused.reason
        assert _champion(cml) == "fraud/1" and cml.lifecycle.get_model("fraud@challenger").ref == "fraud/2"
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


def test_of_two_processes_deciding_at_once_on_postgresql_only_one_acts(postgres_url: str, tmp_path: Path,
                                                                      small_csv: Path) -> None:  # fmt: skip
    with crispml.connect(home=tmp_path / "setup", database_url=postgres_url, user="tester") as cml:
        curated = cml.curate(cml.prepare(cml.ingest(crispml_source(small_csv), name="ccf").id).id, algorithm="rf",
                             frames="1-6").id  # fmt: skip
        for params, alias in ((STUMP, "champion"), (FAST_RF, "challenger"), (DEEPER, None)):
            model = cml.train(curated, algorithm="rf", frames="1-6", name="fraud", params=params)
            if alias is not None:
                cml.persist(model.ref, alias=alias)
            cml.score(model.ref, dataset=curated, frames="10-12")
        cml.label(dataset=curated, frames="10-12")

    def at_once(mode: str) -> list[str]:
        policy = ChallengerPolicy(**{**POLICY, "min_labelled": 100, "mode": mode})
        processes = [Container(Settings(home=tmp_path / name, user=name, database_url=postgres_url,  # type: ignore[call-arg]
                                        challenger_policy=policy)) for name in ("api-1", "api-2")]  # fmt: skip
        start = threading.Barrier(2)
        said: list[str] = []

        def decide(c: Container) -> None:
            start.wait()
            try:
                found = c.challenger_policy.check("fraud")
            except NotFound:  # the other one promoted first: no challenger left to decide on
                return
            said.extend(f"{d.outcome}: {d.reason}" for d in found if "meanwhile" not in d.reason)

        try:
            threads = [threading.Thread(target=decide, args=(c,)) for c in processes]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        finally:
            for c in processes:
                c.close()
        return said

    [promoted] = at_once("auto")
    assert promoted.startswith("promoted"), promoted
    with crispml.connect(home=tmp_path / "setup", database_url=postgres_url, user="tester") as cml:
        assert _events(cml) == ["challenger.promoted"] and _champion(cml) == "fraud/2"
        assert cml.lifecycle.get_model("fraud@fallback").ref == "fraud/1"
        cml.persist("fraud/1", alias="champion")  # the stump back, against the deeper forest
        cml.persist("fraud/3", alias="challenger")
    [proposed] = at_once("propose")
    assert proposed.startswith("proposed"), proposed
    with crispml.connect(home=tmp_path / "setup", database_url=postgres_url, user="tester") as cml:
        assert _events(cml) == ["challenger.promoted", "challenger.proposed"]
        assert [p.challenger for p in cml.challenger_policy.proposals("fraud")] == ["fraud/3"]
