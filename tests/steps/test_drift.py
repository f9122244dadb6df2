"""The drift step: a profile of reference data, and PSI, Jensen-Shannon and missing values against it."""

from __future__ import annotations

import json

import numpy as np

from crispml.steps.drift import Levels, compare, profile, psi, sample_rows, worst

NAMES = ["a", "b", "clock"]


def reference(seed: int = 1, rows: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = np.column_stack([rng.normal(0, 1, rows), rng.exponential(2.0, rows), np.arange(rows, dtype=float)])
    return features, rng.uniform(0, 1, rows)


def test_the_same_distribution_does_not_drift_and_the_profile_is_plain_json() -> None:
    features, scores = reference()
    found = profile(features, NAMES, scores, frames=[1, 2])
    assert json.loads(json.dumps(found, allow_nan=False)) == found
    assert len(found["features"]["a"]["edges"]) == 9 and abs(sum(found["features"]["a"]["shares"]) - 1) < 1e-9
    again, again_scores = reference(seed=2)
    rows = compare(found, again[:, :2], NAMES[:2], again_scores, Levels())
    assert [r["feature"] for r in rows] == ["a", "b", "score"]
    assert all(r["level"] == "ok" and r["psi"] < 0.01 for r in rows)
    assert psi(np.array([0.5, 0.5]), np.array([0.5, 0.5])) == 0


def test_a_shift_a_gap_and_a_clock_are_judged_by_the_levels() -> None:
    features, scores = reference()
    found = profile(features, NAMES, scores, frames=[1])
    later, later_scores = reference(seed=3, rows=5_000)
    later[:, 0] += 0.5  # half a standard deviation: a warning at most, far from nothing
    later[:1_000, 1] = np.nan  # a fifth of b goes missing
    later[:, 2] += 20_000  # a clock runs on
    rows = {r["feature"]: r for r in compare(found, later, NAMES, later_scores, Levels(ignored=("clock",)))}
    assert rows["a"]["psi"] >= 0.1 and rows["a"]["level"] in ("warning", "alarm")
    assert rows["b"]["missing_rate"] == 0.2 and rows["b"]["level"] == "alarm"
    assert rows["clock"]["psi"] > 5 and rows["clock"]["level"] == "ignored"
    assert "clock" not in worst(list(rows.values()), "alarm") and "b" in worst(list(rows.values()), "alarm")


def test_sample_rows_is_seeded_ordered_and_bounded() -> None:
    rows = np.arange(100_000)
    first, again = sample_rows(rows, 1_000, seed=4), sample_rows(rows, 1_000, seed=4)
    assert first.size == 1_000 and np.array_equal(first, again) and np.all(np.diff(first) > 0)
    assert np.array_equal(sample_rows(rows[:10], 1_000, seed=4), rows[:10])
