"""The synthetic twin keeps the public data set's schema, size and fraud ratio."""

from __future__ import annotations

import numpy as np
import pytest

from crispml.steps.synthetic import REFERENCE_FRAUDS, REFERENCE_ROWS, TIME_SPAN_S, fraud_count, synthesize


def test_schema_and_time_range() -> None:
    frame = synthesize(5_000, seed=1)
    assert list(frame.columns) == ["Time", *[f"V{i}" for i in range(1, 29)], "Amount", "Class"]
    assert frame["Time"].iloc[0] == 0 and frame["Time"].iloc[-1] == TIME_SPAN_S
    assert frame["Time"].is_monotonic_increasing
    assert set(frame["Class"].unique()) <= {0, 1}
    assert (frame["Amount"] >= 0).all()


@pytest.mark.parametrize("rows", [1_000, 24_000, 100_000, REFERENCE_ROWS])
def test_fraud_ratio_matches_reference(rows: int) -> None:
    assert fraud_count(REFERENCE_ROWS) == REFERENCE_FRAUDS
    expected = round(rows * REFERENCE_FRAUDS / REFERENCE_ROWS)
    assert fraud_count(rows) == max(1, expected)


def test_full_size_has_492_frauds() -> None:
    frame = synthesize()
    assert len(frame) == REFERENCE_ROWS
    assert int(frame["Class"].sum()) == REFERENCE_FRAUDS


def test_seeded_and_reproducible() -> None:
    first, again, other = synthesize(3_000, seed=7), synthesize(3_000, seed=7), synthesize(3_000, seed=8)
    assert first.equals(again)
    assert not np.allclose(first["V1"].to_numpy(), other["V1"].to_numpy())
