"""Frames: the reference's equal slices in row order, by a time column, and frame specs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crispml.domain.refs import parse_frames
from crispml.errors import InvalidInput
from crispml.steps.ingest import assign_frames


def test_equal_slices_in_row_order_remainder_joins_last() -> None:
    frames = assign_frames(pd.DataFrame({"x": range(27)}), 12)
    assert frames[0] == 1 and frames[-1] == 12
    counts = np.bincount(frames)[1:]
    assert counts.tolist() == [2] * 11 + [5]
    assert (np.diff(frames) >= 0).all()


def test_slices_by_time_column() -> None:
    frame = pd.DataFrame({"t": [0, 1, 2, 50, 99, 100]})
    assert assign_frames(frame, 2, "t").tolist() == [1, 1, 1, 2, 2, 2]


def test_more_slices_than_rows_is_refused() -> None:
    with pytest.raises(InvalidInput, match="cannot cut 3 rows into 12 frames"):
        assign_frames(pd.DataFrame({"x": [1, 2, 3]}), 12)


@pytest.mark.parametrize(
    ("spec", "expected"), [("1-6", (1, 2, 3, 4, 5, 6)), ("7,9,11", (7, 9, 11)), ("1-2,12", (1, 2, 12))]
)
def test_parse_frames(spec: str, expected: tuple[int, ...]) -> None:
    assert parse_frames(spec, 12) == expected


@pytest.mark.parametrize(("spec", "message"), [("1-13", "13"), ("0", "0"), ("6-1", "backwards"), ("a-b", "a-b")])
def test_parse_frames_names_the_problem(spec: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_frames(spec, 12)
