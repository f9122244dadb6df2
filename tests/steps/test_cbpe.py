"""The calibration and CBPE steps on their own: which map a holdout gets, that a stored map is checked, and
that an interval covers the realized KPI as often as its level says when the probabilities are right."""

from __future__ import annotations

import numpy as np
import pytest

from crispml.errors import IntegrityFailure
from crispml.steps.calibration import Calibration, fit_calibration
from crispml.steps.cbpe import estimate
from crispml.steps.evaluate import kpis


def _outcomes(rng: np.random.Generator, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities like a fraud model's (most near 0, a few high) and outcomes drawn from them."""
    probability = np.where(rng.random(rows) < 0.03, rng.beta(5, 2, rows), rng.beta(0.5, 60, rows))
    return probability, (rng.random(rows) < probability).astype(np.int64)


def test_calibrated_scores_keep_the_identity_and_distorted_ones_are_mapped() -> None:
    rng = np.random.default_rng(5)
    probability, target = _outcomes(rng, 20_000)
    assert fit_calibration(probability, target, seed=1).method == "identity"  # type: ignore[union-attr]
    inflated = probability**0.4  # what class weights do: every score too high
    fitted = fit_calibration(inflated, target, seed=1)
    assert fitted is not None and fitted.method == "isotonic" and len(fitted.replicates) >= 45
    assert fitted.evidence["brier_calibrated"] < fitted.evidence["brier_raw"]
    few = fit_calibration(inflated[:3_000], target[:3_000], seed=1)
    assert few is not None and few.method == "platt"  # under 100 frauds: two coefficients, not a staircase
    assert fit_calibration(inflated[:200], np.zeros(200, dtype=np.int64), seed=1) is None


def test_a_stored_calibration_is_checked_against_its_hash() -> None:
    rng = np.random.default_rng(6)
    probability, target = _outcomes(rng, 20_000)
    fitted = fit_calibration(probability**0.4, target, seed=1)
    assert fitted is not None
    stored = fitted.to_json()
    again = Calibration.from_json(stored, expected_sha256=fitted.sha256)
    assert np.array_equal(again.apply(probability), fitted.apply(probability))
    stored["params"]["y"][-1] = 1.0
    with pytest.raises(IntegrityFailure, match="modified"):
        Calibration.from_json(stored)
    with pytest.raises(IntegrityFailure, match="modified"):
        Calibration.from_json(fitted.to_json(), expected_sha256="0" * 64)


def test_intervals_cover_the_realized_kpis_as_often_as_their_level_says() -> None:
    rng = np.random.default_rng(7)
    covered = {kpi: 0 for kpi in ("roc_auc", "precision", "recall", "f1")}
    trials = 120
    for trial in range(trials):
        probability, target = _outcomes(rng, 1_500)
        found = estimate(probability, 0.5, None, level=0.9, samples=300, seed=trial)
        realized = kpis(target, probability, 0.5)
        for kpi in covered:
            low, high = found["interval"][kpi]
            covered[kpi] += low <= realized[kpi] <= high
    # 90 % intervals over 120 frames: 108 expected, and 98 would be a 1-in-500 shortfall.
    assert all(count >= 98 for count in covered.values()), covered
