"""Preparation: types, duplicates, missing values by policy, constant columns, and the report of it all."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crispml.domain import FRAME, RECORD_ID
from crispml.errors import InvalidInput
from crispml.steps.prepare import MissingPolicy, Preparation, fit_preparation

FEATURES = ["a", "b", "text_number", "word", "flag", "same"]


def raw() -> pd.DataFrame:
    """Eight rows: one duplicate (r2 = r1), one missing target (r3), gaps in a (r4) and b (r5, r6)."""
    return pd.DataFrame(
        {
            RECORD_ID: [f"r{i}" for i in range(8)],
            FRAME: [1, 1, 1, 1, 2, 2, 2, 2],
            "a": [1.0, 2.0, 2.0, 9.0, np.nan, 4.0, 5.0, 6.0],
            "b": [10.0, 20.0, 20.0, 30.0, 40.0, np.nan, np.nan, 80.0],
            "text_number": ["1.5", "2", "2", "3", "4", "5", "6", "7"],
            "word": ["x", "y", "y", "z", "x", "y", "z", "x"],
            "flag": [True, False, False, True, False, True, True, False],
            "same": [3.0] * 8,
            "Class": [0, 1, 1, None, 0, 0, 1, 0],
        }
    )


def test_median_fills_gaps_with_the_median_of_the_cleaned_rows() -> None:
    prepared, preparation, report = fit_preparation(raw(), FEATURES, "Class", MissingPolicy.MEDIAN)
    # After dropping the duplicate and the row without target: a = 1, 2, nan, 4, 5, 6 -> median 4.
    assert preparation.fill["a"] == 4.0
    assert preparation.fill["b"] == 30.0  # b = 10, 20, 40, nan, nan, 80
    assert prepared.loc[prepared[RECORD_ID] == "r4", "a"].item() == 4.0
    assert prepared.loc[prepared[RECORD_ID].isin(["r5", "r6"]), "b"].tolist() == [30.0, 30.0]
    assert report.values_filled == {"a": 1, "b": 2}
    assert report.rows_with_missing == 3
    assert report.rows_dropped_missing == 0
    assert not prepared.isna().any().any()


def test_zero_fills_gaps_with_zero() -> None:
    prepared, preparation, report = fit_preparation(raw(), FEATURES, "Class", MissingPolicy.ZERO)
    assert set(preparation.fill.values()) == {0.0}
    assert prepared.loc[prepared[RECORD_ID] == "r4", "a"].item() == 0.0
    assert prepared.loc[prepared[RECORD_ID].isin(["r5", "r6"]), "b"].tolist() == [0.0, 0.0]
    assert report.values_filled == {"a": 1, "b": 2}
    assert len(prepared) == 6


def test_drop_removes_rows_with_gaps_and_fills_nothing() -> None:
    prepared, preparation, report = fit_preparation(raw(), FEATURES, "Class", MissingPolicy.DROP)
    assert prepared[RECORD_ID].tolist() == ["r0", "r1", "r7"]
    assert preparation.fill == {}
    assert report.rows_with_missing == 3
    assert report.rows_dropped_missing == 3
    assert report.values_filled == {}
    assert report.rows_out == 3


def test_the_report_says_what_changed() -> None:
    _, _, report = fit_preparation(raw(), FEATURES, "Class", MissingPolicy.MEDIAN)
    assert report.rows_in == 8
    assert report.rows_dropped_missing_target == 1
    assert report.duplicates_removed == 1
    assert report.rows_out == 6
    assert report.coerced_columns == ["text_number"]
    assert report.non_numeric_columns == ["word"]
    assert report.constant_columns == ["same"]
    as_json = report.to_json()
    assert as_json["duplicates_removed"] == 1 and as_json["values_filled"] == {"a": 1, "b": 2}


def test_the_prepared_frame_has_numeric_features_in_order_and_an_integer_target() -> None:
    prepared, preparation, _ = fit_preparation(raw(), FEATURES, "Class", MissingPolicy.MEDIAN)
    assert preparation.drop_columns == ["word", "same"]
    assert preparation.columns_out == ["a", "b", "text_number", "flag"]
    assert list(prepared.columns) == [RECORD_ID, FRAME, "a", "b", "text_number", "flag", "Class"]
    assert prepared["Class"].dtype == np.int64
    assert prepared["text_number"].tolist() == [1.5, 2.0, 4.0, 5.0, 6.0, 7.0]
    assert prepared["flag"].tolist() == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    assert list(prepared.index) == list(range(6))


def test_the_preparation_is_plain_json_that_rebuilds_itself() -> None:
    _, preparation, _ = fit_preparation(raw(), FEATURES, "Class", MissingPolicy.ZERO)
    as_json = preparation.to_json()
    assert as_json["policy"] == "zero" and as_json["step"] == "prepare"
    assert Preparation(**as_json) == preparation


def test_duplicates_differing_only_in_record_id_or_frame_count_as_duplicates() -> None:
    frame = pd.DataFrame({RECORD_ID: ["p", "q"], FRAME: [1, 2], "a": [1.0, 1.0], "b": [2.0, 3.0], "Class": [0, 0]})
    prepared, _, report = fit_preparation(frame, ["a", "b"], "Class", MissingPolicy.MEDIAN)
    assert report.duplicates_removed == 0  # b differs
    frame.loc[1, "b"] = 2.0
    prepared, _, report = fit_preparation(frame, ["a", "b"], "Class", MissingPolicy.MEDIAN)
    assert report.duplicates_removed == 1
    assert prepared[RECORD_ID].tolist() == ["p"]


def test_the_input_frame_is_left_untouched() -> None:
    frame = raw()
    before = frame.copy()
    fit_preparation(frame, FEATURES, "Class", MissingPolicy.ZERO)
    pd.testing.assert_frame_equal(frame, before)


def test_a_column_with_no_values_is_filled_with_zero_under_median_and_then_dropped_as_constant() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "empty": [np.nan] * 3, "Class": [0, 1, 0]})
    prepared, preparation, report = fit_preparation(frame, ["a", "empty"], "Class", MissingPolicy.MEDIAN)
    assert preparation.fill["empty"] == 0.0
    assert report.constant_columns == ["empty"]
    assert list(prepared.columns) == ["a", "Class"]


def test_drop_that_leaves_no_rows_is_refused() -> None:
    frame = pd.DataFrame({"a": [np.nan, 1.0], "b": [1.0, np.nan], "Class": [0, 1]})
    with pytest.raises(InvalidInput, match="preparation left no rows") as err:
        fit_preparation(frame, ["a", "b"], "Class", MissingPolicy.DROP)
    assert err.value.field == "policy"


def test_a_frame_without_any_target_is_refused() -> None:
    frame = pd.DataFrame({"a": [1.0, 2.0], "Class": [None, None]})
    with pytest.raises(InvalidInput, match="preparation left no rows"):
        fit_preparation(frame, ["a"], "Class", MissingPolicy.MEDIAN)


def test_policies_are_the_documented_closed_set() -> None:
    assert [p.value for p in MissingPolicy] == ["drop", "median", "zero"]
    with pytest.raises(ValueError, match="mean"):
        MissingPolicy("mean")
