"""The fallback's KPI floor: an alias whose realized KPI over its last labelled frames falls under the floor
is answered by its name's fallback, recorded, audited, counted, and answered again once it is back over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import crispml
from crispml.domain import FRAME, RECORD_ID, AuditQuery
from crispml.local import Crispml
from crispml.services.synthesis import write_synthetic
from crispml.steps import model_codec
from tests.conftest import wait_for
from tests.services.test_fallback import champion_and_fallback, fallback_scores, tamper
from tests.steps.test_fast_path import later_rows


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("kpi-floor") / "creditcard.csv"
    write_synthetic(path, 6_000)
    return path


@pytest.fixture
def floored(home: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crispml]:
    """crispml's Python API with a floor of ROC AUC 0.8 over the last 3 labelled frames (20 labels at least)."""
    for name, value in {"KPI": "roc_auc", "FLOOR": "0.8", "FRAMES": "3", "MIN_LABELS": "20"}.items():
        monkeypatch.setenv(f"CRISPML_FALLBACK_{name}", value)
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        yield cml


def switches(cml: Crispml) -> list[str]:
    with cml.store.reading() as uow:
        events, _ = uow.audit.list_events(AuditQuery(action="fallback.*", resource="alias:fraud@champion"))
    return [event.action for event in reversed(events)]


@pytest.mark.parametrize("backend", ["postgresql"])  # the HTTP test runs on SQLite
def test_a_champion_under_its_kpi_floor_is_answered_by_the_fallback_until_it_is_back_over(
    floored: Crispml, tiny_csv: Path
) -> None:
    cml = floored
    champion, fallback, _ = champion_and_fallback(cml, tiny_csv)
    records = later_rows(cml, 3).to_dict("records")
    scored = cml.scoring.score("fraud@champion", dataset="ccf", frames="7-12")
    assert scored.batch.fallback_reason is None
    truth = cml.lifecycle.dataset_frame("ccf")
    truth = truth[truth[FRAME] >= 7][[RECORD_ID, FRAME, "Class"]]
    wrong = [{"record_id": r, "label": 1 - int(c)} for r, c in zip(truth[RECORD_ID], truth["Class"], strict=True)]

    # Too few labels to judge: the champion answers.
    cml.scoring.label(records=wrong[-10:])
    assert cml.scoring.degraded() == {}
    assert cml.scoring.score("fraud@champion", records=records).batch.model_ref == champion.ref

    # Its labels say it is wrong: the realized ROC AUC over frames 10-12 is far under 0.8.
    counted = fallback_scores("kpi_floor")
    cml.scoring.label(records=wrong)
    degraded = cml.scoring.degraded()
    reason = degraded["fraud@champion"]
    assert list(degraded) == ["fraud@champion"]
    assert reason.startswith(f"kpi_floor: {champion.ref}: roc_auc 0.") and " < 0.80 over frames 10-12 (" in reason
    answered = cml.scoring.score("fraud@champion", records=records)
    assert (answered.batch.model_ref, answered.batch.fallback_reason) == (fallback.ref, reason)
    stored = cml.scoring.batch(answered.batch.id).batch
    assert (stored.model_ref, stored.fallback_reason) == (fallback.ref, reason)
    assert fallback_scores("kpi_floor") == counted + 3
    # The version named exactly, and the fallback alias itself, answer as themselves.
    assert cml.scoring.score(champion.ref, records=records).batch.fallback_reason is None
    assert cml.scoring.score("fraud@fallback", records=records).batch.model_ref == fallback.ref
    # The switch is audited once, however often the floor is worked out again.
    cml.scoring.floor.check()
    assert switches(cml) == ["fallback.kpi_floor"]

    # Corrected labels bring it back over the floor: the champion answers again.
    cml.scoring.label(records=[{"record_id": r["record_id"], "label": 1 - r["label"]} for r in wrong])
    assert cml.scoring.degraded() == {}
    back = cml.scoring.score("fraud@champion", records=records)
    assert (back.batch.model_ref, back.batch.fallback_reason) == (champion.ref, None)
    assert switches(cml) == ["fallback.kpi_floor", "fallback.recovered"]

    # Under the floor again, but the champion alias moves to a version not under it: no fallback.
    cml.scoring.label(records=wrong)
    assert cml.scoring.score("fraud@champion", records=records).batch.model_ref == fallback.ref
    cml.persist(fallback.ref, alias="champion")
    cml.scoring.floor.check()
    assert cml.scoring.degraded() == {}
    assert cml.scoring.score("fraud@champion", records=records).batch.fallback_reason is None
    assert switches(cml) == ["fallback.kpi_floor", "fallback.recovered"] * 2

    # Under the floor with a fallback that turns out broken: the champion answers, no request fails.
    cml.persist(champion.ref, alias="champion")
    cml.scoring.floor.check()
    assert cml.scoring.score("fraud@champion", records=records).batch.model_ref == fallback.ref
    suffix = model_codec.SUFFIX[fallback.artifact_format]
    tamper(cml.store.artifacts.path("models", fallback.artifact_sha256, suffix))  # type: ignore[attr-defined]
    answers = []

    def answered_by_champion() -> bool:
        answers.append(cml.scoring.score("fraud@champion", records=records).batch)
        return answers[-1].model_ref == champion.ref

    wait_for(answered_by_champion, timeout=10)
    assert answers[-1].fallback_reason is None
    # Still degraded: the champion is under its floor, and its fallback cannot answer.
    assert list(cml.scoring.degraded()) == ["fraud@champion"]
