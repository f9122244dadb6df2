"""Model KPIs against hand-computed values and scikit-learn, curves, and feature importances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score
from sklearn.neighbors import KNeighborsClassifier

from crispml.steps.evaluate import curves, feature_importance, kpis

TARGET = np.array([0, 0, 1, 1, 0, 1, 0, 0])
SCORE = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.9, 0.2, 0.5])


def test_kpis_at_a_threshold_match_a_hand_count() -> None:
    result = kpis(TARGET, SCORE, 0.5)
    # Decisions at >= 0.5: rows 3, 4, 5, 7 -> tp = 2 (3, 5), fp = 2 (4, 7), fn = 1 (2), tn = 3.
    assert result["confusion"] == {"tn": 3, "fp": 2, "fn": 1, "tp": 2}
    assert result["precision"] == pytest.approx(2 / 4)
    assert result["recall"] == pytest.approx(2 / 3)
    assert result["f1"] == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))
    assert (result["rows"], result["positives"], result["threshold"]) == (8, 3, 0.5)
    # ROC AUC by hand: of the 15 (positive, negative) pairs, the positive outranks in 12.
    assert result["roc_auc"] == pytest.approx(12 / 15)


def test_kpis_agree_with_scikit_learn() -> None:
    rng = np.random.default_rng(3)
    target = (rng.random(500) < 0.2).astype(int)
    score = np.clip(rng.normal(0.3 + 0.3 * target, 0.2), 0, 1)
    for threshold in (0.3, 0.5, 0.7):
        result = kpis(target, score, threshold)
        decision = score >= threshold
        assert result["roc_auc"] == pytest.approx(roc_auc_score(target, score))
        assert result["pr_auc"] == pytest.approx(average_precision_score(target, score))
        assert result["precision"] == pytest.approx(precision_score(target, decision))
        assert result["recall"] == pytest.approx(recall_score(target, decision))
        assert result["f1"] == pytest.approx(f1_score(target, decision))


def test_a_score_equal_to_the_threshold_is_a_positive_decision() -> None:
    result = kpis(np.array([1, 0]), np.array([0.5, 0.49]), 0.5)
    assert result["confusion"] == {"tn": 1, "fp": 0, "fn": 0, "tp": 1}


def test_one_class_has_no_auc_and_no_division_by_zero() -> None:
    result = kpis(np.zeros(4, dtype=int), np.array([0.1, 0.2, 0.3, 0.4]), 0.9)
    assert result["roc_auc"] is None and result["pr_auc"] is None
    assert (result["precision"], result["recall"], result["f1"]) == (0.0, 0.0, 0.0)
    assert result["confusion"] == {"tn": 4, "fp": 0, "fn": 0, "tp": 0}


def test_kpis_per_frame_count_each_frames_rows_only() -> None:
    frames = np.array([1, 1, 1, 1, 2, 2, 2, 2])
    per_frame = {f: kpis(TARGET[frames == f], SCORE[frames == f], 0.5) for f in (1, 2)}
    assert per_frame[1]["confusion"] == {"tn": 2, "fp": 0, "fn": 1, "tp": 1}
    assert per_frame[2]["confusion"] == {"tn": 1, "fp": 2, "fn": 0, "tp": 1}
    assert per_frame[1]["roc_auc"] == pytest.approx(3 / 4)  # 0.35 is outranked by 0.4; the rest are in order
    total = kpis(TARGET, SCORE, 0.5)["confusion"]
    assert {k: per_frame[1]["confusion"][k] + per_frame[2]["confusion"][k] for k in total} == total


def test_curves_run_from_corner_to_corner() -> None:
    result = curves(TARGET, SCORE)
    roc, pr = result["roc"], result["pr"]
    assert (roc[0]["fpr"], roc[0]["tpr"]) == (0.0, 0.0)
    assert (roc[-1]["fpr"], roc[-1]["tpr"]) == (1.0, 1.0)
    assert all(a["fpr"] <= b["fpr"] and a["tpr"] <= b["tpr"] for a, b in itertools.pairwise(roc))
    assert pr[0]["recall"] == 0.0 and pr[-1]["recall"] == 1.0
    assert all(a["recall"] <= b["recall"] for a, b in itertools.pairwise(pr))
    assert all(0.0 <= p["precision"] <= 1.0 for p in pr)


def test_curves_are_thinned_to_about_a_hundred_points() -> None:
    rng = np.random.default_rng(0)
    target = (rng.random(5000) < 0.3).astype(int)
    score = rng.random(5000)
    result = curves(target, score)
    assert 50 < len(result["roc"]) <= 101
    assert 50 < len(result["pr"]) <= 101
    assert (result["roc"][-1]["fpr"], result["roc"][-1]["tpr"]) == (1.0, 1.0)


def test_each_pr_point_names_the_threshold_it_is_reached_at() -> None:
    pr = curves(TARGET, SCORE)["pr"]
    assert pr[0]["threshold"] is None  # recall 0: nothing is flagged
    assert all(a["threshold"] > b["threshold"] for a, b in itertools.pairwise(pr[1:]))
    for point in pr[1:]:
        at = kpis(TARGET, SCORE, point["threshold"])
        assert (at["precision"], at["recall"]) == pytest.approx((point["precision"], point["recall"]))


def test_curves_of_one_class_are_empty() -> None:
    assert curves(np.ones(5, dtype=int), np.linspace(0, 1, 5)) == {"roc": [], "pr": []}


def planted(rows: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Only the second of three features carries the signal."""
    rng = np.random.default_rng(1)
    y = (rng.random(rows) < 0.3).astype(int)
    x = rng.normal(size=(rows, 3))
    x[:, 1] += 3.0 * y
    return x, y


@pytest.mark.parametrize(
    "model",
    [
        RandomForestClassifier(n_estimators=10, random_state=0),  # own importances
        LogisticRegression(),  # coefficients
        KNeighborsClassifier(),  # neither: permutation importance
    ],
    ids=["forest", "linear", "permutation"],
)
def test_importances_rank_the_informative_feature_first_and_sum_to_one(model: object) -> None:
    x, y = planted()
    model.fit(x, y)  # type: ignore[attr-defined]
    importance = feature_importance(model, ["a", "b", "c"], x, y, seed=0, sample=200)
    assert next(iter(importance)) == "b"
    assert sorted(importance) == ["a", "b", "c"]
    assert list(importance.values()) == sorted(importance.values(), reverse=True)
    assert sum(importance.values()) == pytest.approx(1.0, abs=1e-5)
