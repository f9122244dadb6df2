"""Ingestion: columns checked by role, a 0/1 target, frames, sampling, key columns and column summaries.

Content-derived record ids are pinned elsewhere (their scheme is being redefined); here only key ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crispml.domain import FRAME, RECORD_ID
from crispml.errors import InvalidInput
from crispml.steps.ingest import assign_frames, binary_target, check_columns, sample, summarize
from crispml.steps.record_ids import key_ids as key_record_ids


def source() -> pd.DataFrame:
    return pd.DataFrame({"id": ["a", "b", "c"], "t": [0, 5, 10], "x": [1.0, 2.0, 3.0], "Class": [0, 1, 0]})


# -- columns --------------------------------------------------------------------------------------


def test_columns_present_are_accepted() -> None:
    check_columns(source(), "Class", "id", "t")
    check_columns(source(), "Class", None, None)


@pytest.mark.parametrize(
    ("target", "key", "time", "message", "field"),
    [
        ("Fraud", None, None, "target column 'Fraud' is missing", "Fraud"),
        ("Class", "account", None, "key column 'account' is missing", "account"),
        ("Class", None, "Time", "time column 'Time' is missing", "Time"),
    ],
)
def test_a_missing_column_is_named_with_its_role(
    target: str, key: str | None, time: str | None, message: str, field: str
) -> None:
    with pytest.raises(InvalidInput, match=message) as err:
        check_columns(source(), target, key, time)
    assert err.value.field == field
    assert "id, t, x, Class" in err.value.message  # what the source does have


def test_the_frame_column_is_reserved() -> None:
    with pytest.raises(InvalidInput, match="reserved for time frames"):
        check_columns(source().assign(**{FRAME: 1}), "Class", None, None)


def test_a_record_id_column_is_reserved_unless_named_as_the_key() -> None:
    frame = source().assign(**{RECORD_ID: ["p", "q", "r"]})
    with pytest.raises(InvalidInput, match=f"pass --key {RECORD_ID}"):
        check_columns(frame, "Class", None, None)
    check_columns(frame, "Class", RECORD_ID, None)


# -- target ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "values", [[0, 1, 1], ["0", "1", "1"], [False, True, True], [0.0, 1.0, 1.0]], ids=["int", "text", "bool", "float"]
)
def test_the_target_becomes_zero_one_integers(values: list[object]) -> None:
    target = binary_target(pd.Series(values, name="Class"))
    assert target.dtype == np.int64
    assert target.tolist() == [0, 1, 1]


def test_target_gaps_stay_missing() -> None:
    target = binary_target(pd.Series([1, None, 0], name="Class"))
    assert str(target.dtype) == "Int64"
    assert target.isna().tolist() == [False, True, False]
    assert target.dropna().tolist() == [1, 0]


@pytest.mark.parametrize("values", [[0, 2, 1], ["0", "yes", "1"], [0.5, 1, 0]])
def test_a_target_beyond_zero_and_one_is_refused_with_examples(values: list[object]) -> None:
    with pytest.raises(InvalidInput, match=r"target column 'Class' must hold 0 and 1 only; found \[") as err:
        binary_target(pd.Series(values, name="Class"))
    assert str(values[1]) in err.value.message
    assert err.value.field == "Class"


# -- frames ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("rows", "slices"), [(12, 12), (100, 7), (13, 1), (5, 5)])
def test_row_order_slices_cover_every_frame_in_order(rows: int, slices: int) -> None:
    frames = assign_frames(pd.DataFrame({"x": range(rows)}), slices)
    assert len(frames) == rows
    assert sorted(set(frames.tolist())) == list(range(1, slices + 1))
    assert (np.diff(frames) >= 0).all()
    counts = np.bincount(frames)[1:]
    assert (counts[:-1] == rows // slices).all()  # equal frames, the remainder in the last


def test_time_slices_are_equal_width_intervals_not_equal_counts() -> None:
    frame = pd.DataFrame({"t": [0, 1, 2, 3, 4, 5, 6, 7, 30, 60, 89, 90]})
    assert assign_frames(frame, 3, "t").tolist() == [1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 3]


def test_time_slices_follow_time_not_row_order() -> None:
    frame = pd.DataFrame({"t": ["90", "0", "45.0"]})  # text that parses as numbers is fine
    assert assign_frames(frame, 2, "t").tolist() == [2, 1, 2]


def test_a_constant_time_column_gives_one_frame() -> None:
    assert assign_frames(pd.DataFrame({"t": [5, 5, 5]}), 3, "t").tolist() == [1, 1, 1]


@pytest.mark.parametrize("values", [[0, None, 2], [0, "noon", 2]])
def test_a_time_column_with_gaps_or_text_is_refused(values: list[object]) -> None:
    with pytest.raises(InvalidInput, match="time column 't' has missing or non-numeric values") as err:
        assign_frames(pd.DataFrame({"t": values}), 2, "t")
    assert err.value.field == "t"


@pytest.mark.parametrize("slices", [0, -3])
def test_fewer_than_one_slice_is_refused(slices: int) -> None:
    with pytest.raises(InvalidInput, match="slices must be at least 1") as err:
        assign_frames(pd.DataFrame({"x": range(10)}), slices)
    assert err.value.field == "slices"


# -- sampling -------------------------------------------------------------------------------------


def numbered(rows: int = 1000) -> pd.DataFrame:
    return pd.DataFrame({"n": np.arange(rows), "x": np.arange(rows) * 0.5})


def test_all_the_data_is_kept_as_it_is() -> None:
    frame = numbered()
    assert sample(frame, 1.0, 42) is frame


@pytest.mark.parametrize(("percent", "rows"), [(0.01, 10), (0.1, 100), (0.255, 255), (0.5, 500), (0.0001, 1)])
def test_a_fraction_keeps_that_many_rows_at_least_one(percent: float, rows: int) -> None:
    assert len(sample(numbered(), percent, 42)) == rows


def test_a_sample_keeps_source_order_and_whole_rows() -> None:
    kept = sample(numbered(), 0.1, 7)
    assert kept["n"].is_monotonic_increasing and kept["n"].is_unique
    assert (kept["x"] == kept["n"] * 0.5).all()
    assert list(kept.index) == list(range(len(kept)))


def test_the_seed_decides_the_sample() -> None:
    frame = numbered()
    first = sample(frame, 0.1, 7)["n"].tolist()
    assert sample(frame, 0.1, 7)["n"].tolist() == first
    assert sample(frame, 0.1, 8)["n"].tolist() != first


@pytest.mark.parametrize("percent", [0.0, -0.5, 1.5])
def test_a_percentage_outside_zero_to_one_is_refused(percent: float) -> None:
    with pytest.raises(InvalidInput, match=r"must lie in \(0, 1\]") as err:
        sample(numbered(), percent, 42)
    assert err.value.field == "percent_data"


# -- key column -----------------------------------------------------------------------------------


def test_key_values_become_text_record_ids() -> None:
    ids = key_record_ids(pd.DataFrame({"account": [101, 102, 7]}), "account")
    assert ids == ["101", "102", "7"]


@pytest.mark.parametrize("values", [["a", None, "c"], ["a", "  ", "c"]])
def test_an_empty_key_is_refused_with_a_count(values: list[object]) -> None:
    with pytest.raises(InvalidInput, match="key column 'account' is empty on 1 rows") as err:
        key_record_ids(pd.DataFrame({"account": values}), "account")
    assert err.value.field == "account"


def test_a_repeated_key_is_refused_naming_the_value() -> None:
    with pytest.raises(InvalidInput, match="key column 'account' is not unique: 'b' appears more than once"):
        key_record_ids(pd.DataFrame({"account": ["a", "b", "c", "b"]}), "account")


# -- summaries ------------------------------------------------------------------------------------


def test_summaries_are_those_of_r_for_numeric_columns_only() -> None:
    frame = pd.DataFrame(
        {
            "x": [1.0, 2.0, 3.0, 4.0, np.nan],
            "word": ["a", "b", "c", "d", "e"],
            "flag": [True, False, True, True, False],
            "gaps": [np.nan] * 5,
            "Class": [0, 1, 0, 0, 1],
        }
    )
    stats = {s.column: s for s in summarize(frame, ["x", "word", "flag", "gaps", "Class"])}
    assert list(stats) == ["x", "Class"]
    x = stats["x"]  # R: summary(c(1, 2, 3, 4, NA)) -> 1, 1.75, 2.5, 2.5, 3.25, 4
    assert (x.min, x.q1, x.median, x.mean, x.q3, x.max) == (1.0, 1.75, 2.5, 2.5, 3.25, 4.0)
    assert stats["Class"].mean == pytest.approx(0.4)
