"""Challengers through the Python API, on SQLite and PostgreSQL: shadow scores land in the ledger marked as
such and stay out of the champion's verification; `verify --compare` tells a clearly worse challenger
from a copy of the champion; a canary share answers its share of requests, recorded per batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text

import crispml
from crispml.domain import AuditQuery
from crispml.errors import InvalidInput
from crispml.local import Crispml
from crispml.services import challengers
from crispml.services.synthesis import write_synthetic
from crispml.storage.database import alembic_config, make_engine
from tests.conftest import crispml_source
from tests.steps.test_fast_path import later_rows

TINY = {"n_estimators": 5}
STUMP = {"n_estimators": 1, "max_depth": 1, "max_features": 1}
"""A clearly worse model: one tree of one split."""


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("challengers") / "creditcard.csv"
    write_synthetic(path, 8_000)
    return path


def champion_and_challenger(cml: Crispml, source: Path, challenger: dict[str, int]) -> str:
    """fraud/1 as champion (TINY) and fraud/2 with `challenger`'s parameters as challenger; the curated id."""
    prepared = cml.prepare(cml.ingest(crispml_source(source), name="ccf").id)
    curated = cml.curate(prepared.id, algorithm="rf", frames="1-6")
    for params, alias in ((TINY, "champion"), (challenger, "challenger")):
        model = cml.train(curated.id, algorithm="rf", frames="1-6", name="fraud", params=params)
        cml.persist(model.ref, alias=alias)
    return curated.id


def shadow_events(cml: Crispml) -> list[dict[str, Any]]:
    events, _ = cml.audit.events(AuditQuery(action="score.batch"), limit=1000)
    return [e.after for e in events if e.after.get("role") == "shadow"]


def shadows_by_champion(cml: Crispml) -> dict[str, str]:
    """The shadow batch of each champion batch, by the shadow's audit events; no champion batch twice."""
    found: dict[str, str] = {}
    for event in shadow_events(cml):
        for champion in event["shadow_of"]:
            assert champion not in found, f"{champion} was shadowed twice"
            found[champion] = event["batch"]
    return found


def test_shadow_scores_are_marked_kept_out_of_verification_and_compared(
    home: Path, database_url: str | None, small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRISPML_SHADOW_SHARE", "1.0")
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        curated = champion_and_challenger(cml, small_csv, STUMP)
        answered = cml.score("fraud@champion", dataset=curated, frames="7-12")
        few = cml.score("fraud@champion", records=later_rows(cml, 5))
        cml.label(dataset=curated, frames="7-12")
        # closing flushes the shadow queue: the challenger's scores are written before the store closes
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        shadows = shadows_by_champion(cml)
        assert set(shadows) == {answered.batch.id, few.batch.id}
        for champion in (answered, few):
            shadow = cml.scoring.batch(shadows[champion.batch.id])
            assert (shadow.batch.role, shadow.batch.model_ref) == ("shadow", "fraud/2")
            assert champion.batch.id in shadow.batch.shadow_of
            # A dataset's batch and a request's differ in source: each gets a shadow batch of its own.
            assert shadow.records.record_ids == champion.records.record_ids
            assert champion.batch.role is None

        # The champion's verification (and the name's) counts only the answered scores.
        rows = cml.verify("fraud").rows
        assert {r["model"] for r in rows} == {"fraud/1"}
        overall = next(r for r in rows if r["frame"] == "all")
        assert overall["scored"] == answered.batch.rows  # the 5 records are among the dataset's
        assert cml.verify("fraud@challenger").rows == []

        comparison = cml.verify("fraud", compare="champion,challenger").comparison
        assert comparison is not None
        assert comparison["records"] == overall["labelled"]
        assert comparison["first_roc_auc"] == pytest.approx(overall["roc_auc"])
        assert comparison["difference"] < 0 and comparison["p_value"] < 0.01
        assert comparison["significant"] is True
        assert comparison["first"] == "champion (fraud/1)" and comparison["second"] == "challenger (fraud/2)"

        # A copy of the champion (same data, same parameters) scoring the same records is no different.
        copy = cml.train(curated, algorithm="rf", frames="1-6", name="fraud", params=TINY)
        cml.score(copy.ref, dataset=curated, frames="7-12")
        same = cml.verify("fraud", compare=f"1,{copy.version}", frames="7-12").comparison
        assert same is not None and same["records"] == comparison["records"]
        assert same["significant"] is False and same["p_value"] > 0.05
        assert same["second_roc_auc"] == pytest.approx(same["first_roc_auc"], abs=0.01)

        with pytest.raises(InvalidInput, match="compare two versions"):
            cml.verify("fraud", compare="champion")
        with pytest.raises(InvalidInput, match="significance level"):
            cml.verify("fraud", compare="champion,challenger", level=1.5)


def test_a_canary_share_answers_its_share_recorded_per_batch(
    home: Path, database_url: str | None, tiny_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRISPML_CANARY_SHARE", "0.3")
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        champion_and_challenger(cml, tiny_csv, {**TINY, "max_depth": 3})
        records = later_rows(cml, 120).to_dict("records")
        answers = [cml.score("fraud@champion", records=[record]) for record in records]
        canaries = [a for a in answers if a.batch.role == "canary"]
        # 120 requests at 30 %: 36 expected (a standard deviation of 5); 36 +- 20 holds but once in 15,000
        assert 16 <= len(canaries) <= 56
        assert {a.batch.model_ref for a in canaries} == {"fraud/2"}
        assert {(a.batch.model_ref, a.batch.role) for a in answers if a not in canaries} == {("fraud/1", None)}
        stored = cml.scoring.batch(canaries[0].batch.id).batch
        assert (stored.role, stored.model_ref) == ("canary", "fraud/2")
        # The same record always goes the same way.
        again = cml.score("fraud@champion", records=[records[answers.index(canaries[0])]])
        assert (again.batch.role, again.batch.model_ref) == ("canary", "fraud/2")
        # A request naming a version (or the challenger) is never a canary.
        assert cml.score("fraud/1", records=records[:20]).batch.role is None


@pytest.mark.parametrize(("algorithm", "params"), [("rf", STUMP), ("logreg", None)])
def test_each_shadow_score_is_the_challengers_own_answer(
    home: Path, small_csv: Path, monkeypatch: pytest.MonkeyPatch, algorithm: str, params: dict[str, int] | None
) -> None:
    """A second forest shares the champion's feature pipeline (the shadow reuses the champion's features);
    logistic regression's curation scales them (the shadow reads the records again its own way). Either
    way each shadow score is what the challenger answers for that record when asked itself."""
    monkeypatch.setenv("CRISPML_SHADOW_SHARE", "1.0")
    with crispml.connect(home=home, user="tester") as cml:
        prepared = cml.prepare(cml.ingest(crispml_source(small_csv), name="ccf").id)
        for alias, trained_by, options in (("champion", "rf", TINY), ("challenger", algorithm, params)):
            curated = cml.curate(prepared.id, algorithm=trained_by, frames="1-6")
            model = cml.train(curated.id, algorithm=trained_by, frames="1-6", name="fraud", params=options)
            cml.persist(model.ref, alias=alias)
        records = later_rows(cml, 5)
        answered = cml.score("fraud@champion", records=records)
    with crispml.connect(home=home, user="tester") as cml:
        shadow = cml.scoring.batch(shadows_by_champion(cml)[answered.batch.id])
        own = cml.score("fraud@challenger", records=records)
    assert shadow.batch.model_ref == own.batch.model_ref == "fraud/2"
    assert shadow.records.record_ids == own.records.record_ids == answered.records.record_ids
    assert shadow.records.scores == pytest.approx(own.records.scores)
    assert shadow.records.scores != pytest.approx(answered.records.scores)


def test_one_shadow_batch_holds_the_requests_of_a_window_in_order(
    home: Path, database_url: str | None, tiny_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests the shadow gathers together get one shadow batch, which names each champion batch and
    holds their records in the same order; every score is still the challenger's own answer. (Four ids
    outgrow the column's former 32 characters, which PostgreSQL enforced: migration 0024.)"""
    monkeypatch.setenv("CRISPML_SHADOW_SHARE", "1.0")
    monkeypatch.setattr(challengers, "_GATHER_S", 30.0)  # one window takes every request below
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        champion_and_challenger(cml, tiny_csv, {**TINY, "max_depth": 3})
        records = later_rows(cml, 12).to_dict("records")
        answers = [cml.score("fraud@champion", records=records[i : i + 3]) for i in range(0, 12, 3)]
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        (event,) = shadow_events(cml)
        shadow = cml.scoring.batch(event["batch"])
        own = cml.score("fraud@challenger", records=records)
    assert event["shadow_of"] == list(shadow.batch.shadow_of) == [a.batch.id for a in answers]
    assert event["rows"] == shadow.batch.rows == 12
    assert shadow.records.record_ids == [r for a in answers for r in a.records.record_ids]
    assert shadow.records.record_ids == own.records.record_ids
    assert shadow.records.scores == pytest.approx(own.records.scores)

    # Down to one id per shadow batch (migration 0024's downgrade keeps the first) and up again.
    engine = make_engine(database_url or f"sqlite:///{home / 'crispml.db'}")
    try:
        command.downgrade(alembic_config(engine), "0023")
        with engine.connect() as connection:
            kept = connection.execute(text("SELECT shadow_of FROM score_batches WHERE role = 'shadow'")).scalars().all()
        assert kept == [answers[0].batch.id]
        command.upgrade(alembic_config(engine), "head")
    finally:
        engine.dispose()
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        assert cml.scoring.batch(event["batch"]).batch.shadow_of == (answers[0].batch.id,)
