"""The fallback model: an alias whose version cannot be loaded is answered by its name's `fallback` alias,
and the ledger records which version answered and why (on SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from crispml.domain import ModelVersion
from crispml.errors import IntegrityFailure
from crispml.local import Crispml
from crispml.services.synthesis import write_synthetic
from crispml.steps import model_codec
from tests.conftest import crispml_source, wait_for
from tests.steps.test_fast_path import later_rows

TINY = {"n_estimators": 5}


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fallback") / "creditcard.csv"
    write_synthetic(path, 6_000)
    return path


def champion_and_fallback(cml: Crispml, source: Path) -> tuple[ModelVersion, ModelVersion, Path]:
    """fraud/1 as champion and fraud/2 as fallback, trained on `source`; and the champion's artifact file."""
    prepared = cml.prepare(cml.ingest(crispml_source(source), name="ccf").id)
    curated = cml.curate(prepared.id, algorithm="rf", frames="1-6")
    champion = cml.train(curated.id, algorithm="rf", frames="1-6", name="fraud", params=TINY)
    fallback = cml.train(curated.id, algorithm="rf", frames="1-6", name="fraud", params={**TINY, "max_depth": 4})
    cml.persist(champion.ref, alias="champion")
    cml.persist(fallback.ref, alias="fallback")
    suffix = model_codec.SUFFIX[champion.artifact_format]
    path = cml.store.artifacts.path("models", champion.artifact_sha256, suffix)  # type: ignore[attr-defined]
    return champion, fallback, path


def tamper(path: Path) -> None:
    """Overwrite one byte in the middle of the file."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def fallback_scores(reason: str) -> float:
    return REGISTRY.get_sample_value("crispml_fallback_scores_total", {"name": "fraud", "reason": reason}) or 0.0


def test_a_tampered_champion_is_answered_by_the_fallback_and_the_ledger_says_why(cml: Crispml, tiny_csv: Path) -> None:
    champion, fallback, path = champion_and_fallback(cml, tiny_csv)
    records = later_rows(cml, 3).to_dict("records")

    normal = cml.scoring.score("fraud@champion", records=records)
    assert (normal.batch.model_ref, normal.batch.fallback_reason) == (champion.ref, None)
    assert cml.scoring.degraded() == {}
    counted = fallback_scores("integrity")

    tamper(path)
    # The champion stays in memory until its reference is resolved again (at most a second later).
    answers = []

    def answered_by_fallback() -> bool:
        answers.append(cml.scoring.score("fraud@champion", records=records))
        return answers[-1].batch.model_ref == fallback.ref

    wait_for(answered_by_fallback, timeout=10)
    answered = answers[-1]
    assert all(a.batch.model_ref in (champion.ref, fallback.ref) for a in answers)
    reason = answered.batch.fallback_reason
    assert reason is not None and reason.startswith(f"integrity: {champion.ref}: ") and "modified" in reason
    stored = cml.scoring.batch(answered.batch.id).batch
    assert (stored.model_ref, stored.fallback_reason) == (fallback.ref, reason)
    assert cml.scoring.degraded() == {"fraud@champion": reason}
    assert fallback_scores("integrity") == counted + 3
    # The version itself, named, is refused as it would be without a fallback.
    with pytest.raises(IntegrityFailure, match="modified"):
        cml.scoring.score(champion.ref, records=records)

    # Without a fallback, the champion's own error, as before.
    cml.lifecycle.delete_alias("fraud", "fallback")
    with pytest.raises(IntegrityFailure, match="modified"):
        cml.scoring.score("fraud@champion", records=records)

    # A good champion again: back to normal.
    cml.persist(fallback.ref, alias="champion")
    restored = cml.scoring.score("fraud@champion", records=records)
    assert (restored.batch.model_ref, restored.batch.fallback_reason) == (fallback.ref, None)
    assert cml.scoring.degraded() == {}
