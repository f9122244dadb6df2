"""Verification: the ledger joined to labels, counted and scored per model version and frame."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from crispml.steps.evaluate import kpis
from crispml.steps.verify import verify


def ledger(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["record_id", "model", "frame", "score", "threshold", "scored_at", "label"])


# Model m/1 scores six records over frames 1 and 2; r6 has no frame (scored from plain records).
ROWS = [
    ("r1", "m/1", 1, 0.9, 0.5, 1, 1),
    ("r2", "m/1", 1, 0.2, 0.5, 2, 0),
    ("r3", "m/1", 1, 0.6, 0.5, 3, None),
    ("r4", "m/1", 2, 0.7, 0.5, 4, 0),
    ("r5", "m/1", 2, 0.1, 0.5, 5, None),
    ("r6", "m/1", None, 0.8, 0.5, 6, 1),
]


def by_frame(rows: list[dict[str, Any]], model: str) -> dict[Any, dict[str, Any]]:
    return {row["frame"]: row for row in rows if row["model"] == model}


def test_counts_of_scored_labelled_and_unlabelled_per_frame_and_overall() -> None:
    result = by_frame(verify(ledger(ROWS)), "m/1")
    assert list(result) == [1, 2, None, "all"]
    counts = {frame: (r["scored"], r["labelled"], r["unlabelled"]) for frame, r in result.items()}
    assert counts == {1: (3, 2, 1), 2: (2, 1, 1), None: (1, 1, 0), "all": (6, 4, 2)}


def test_kpis_come_from_labelled_records_only() -> None:
    result = by_frame(verify(ledger(ROWS)), "m/1")
    overall = result["all"]
    # Labelled: r1 (0.9, 1), r2 (0.2, 0), r4 (0.7, 0), r6 (0.8, 1); unlabelled r3 and r5 take no part.
    expected = kpis(np.array([1, 0, 0, 1]), np.array([0.9, 0.2, 0.7, 0.8]), 0.5)
    assert overall["confusion"] == {"tn": 1, "fp": 1, "fn": 0, "tp": 2}
    for key in ("positives", "roc_auc", "pr_auc", "precision", "recall", "f1", "confusion"):
        assert overall[key] == expected[key], key
    assert overall["roc_auc"] == pytest.approx(1.0)
    assert result[1]["precision"] == 1.0 and result[1]["recall"] == 1.0  # r1 caught, r2 passed
    assert result[2]["positives"] == 0 and result[2]["roc_auc"] is None  # one class: no AUC


def test_a_group_without_labels_has_counts_but_no_kpis() -> None:
    rows = verify(ledger([("r1", "m/1", 3, 0.9, 0.5, 1, None), ("r2", "m/1", 3, 0.1, 0.5, 2, None)]))
    frame_3 = by_frame(rows, "m/1")[3]
    assert (frame_3["scored"], frame_3["labelled"], frame_3["unlabelled"]) == (2, 0, 2)
    assert frame_3["positives"] == 0
    assert all(frame_3[k] is None for k in ("roc_auc", "pr_auc", "precision", "recall", "f1", "confusion"))


def test_a_record_scored_twice_by_one_model_counts_once_with_its_latest_score() -> None:
    rows = [
        ("r1", "m/1", 1, 0.9, 0.5, 5, 0),  # latest: a false alarm
        ("r1", "m/1", 1, 0.1, 0.5, 1, 0),
        ("r2", "m/1", 1, 0.8, 0.5, 2, 1),
    ]
    row = by_frame(verify(ledger(rows)), "m/1")[1]
    assert row["scored"] == 2
    assert row["confusion"] == {"tn": 0, "fp": 1, "fn": 0, "tp": 1}


def test_each_model_version_is_verified_on_its_own_scores() -> None:
    rows = [
        ("r1", "m/2", 1, 0.1, 0.5, 1, 1),  # m/2 misses the fraud m/1 catches
        ("r1", "m/1", 1, 0.9, 0.5, 1, 1),
        ("r2", "m/1", 1, 0.2, 0.5, 2, 0),
    ]
    result = verify(ledger(rows))
    assert [(r["model"], r["frame"]) for r in result] == [("m/1", 1), ("m/1", "all"), ("m/2", 1), ("m/2", "all")]
    assert by_frame(result, "m/1")["all"]["recall"] == 1.0
    assert by_frame(result, "m/2")["all"]["recall"] == 0.0
    assert by_frame(result, "m/2")["all"]["scored"] == 1


def test_the_threshold_the_scores_were_decided_with_is_used() -> None:
    rows = [("r1", "m/1", 1, 0.6, 0.7, 1, 1), ("r2", "m/1", 1, 0.3, 0.7, 2, 0)]
    row = by_frame(verify(ledger(rows)), "m/1")[1]
    assert row["confusion"] == {"tn": 1, "fp": 0, "fn": 1, "tp": 0}  # 0.6 is below 0.7


def test_an_empty_ledger_verifies_to_nothing() -> None:
    assert verify(ledger([])) == []


def test_the_callers_ledger_is_left_untouched() -> None:
    data = ledger(ROWS)
    before = data.copy()
    verify(data)
    pd.testing.assert_frame_equal(data, before)
