"""DeLong's paired test of two ROC AUCs on the same records, against scikit-learn and a paired bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from crispml.steps.compare import compare, delong


def test_delong_agrees_with_sklearn_and_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 600)
    first = labels + rng.normal(0, 1, 600)
    second = 0.6 * labels + rng.normal(0, 1, 600) + 0.3 * first  # correlated with the first, and worse
    auc_a, auc_b, std_error = delong(labels, first, second)
    assert (auc_a, auc_b) == pytest.approx((roc_auc_score(labels, first), roc_auc_score(labels, second)), abs=1e-12)
    draws = [rng.integers(0, 600, 600) for _ in range(400)]
    boot = [roc_auc_score(labels[i], second[i]) - roc_auc_score(labels[i], first[i]) for i in draws]
    assert abs(std_error / np.std(boot) - 1) < 0.15


def test_identical_scores_differ_by_nothing_and_one_class_has_no_test() -> None:
    pairs = pd.DataFrame({"label": [0, 1, 0, 1, 1], "a": [0.1, 0.8, 0.3, 0.7, 0.2], "b": [0.1, 0.8, 0.3, 0.7, 0.2]})
    same = compare(pairs, "a", "b", 0.05)
    assert (same["difference"], same["p_value"], same["significant"]) == (0.0, 1.0, False)
    one_class = compare(pairs.assign(label=0), "a", "b", 0.05)
    assert one_class["records"] == 5 and one_class["p_value"] is None and one_class["significant"] is False
