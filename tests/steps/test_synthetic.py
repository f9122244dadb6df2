"""The synthetic twin keeps the public data set's schema, size and fraud ratio."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crispml.errors import InvalidInput
from crispml.steps.synthetic import REFERENCE_FRAUDS, REFERENCE_ROWS, TIME_SPAN_S, Drift, fraud_count, synthesize


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


# Drift from a frame on: the data a monitoring test must detect.

ROWS = 12_000
FRAME = ROWS // 12


def test_no_drift_is_byte_identical_to_the_undrifted_generator() -> None:
    # The sha256 of this seed's CSV before drift options existed: adding them changed nothing.
    text = synthesize(2_400, seed=3).to_csv(index=False).encode()
    assert hashlib.sha256(text).hexdigest() == "079716b6dd0044dd68fab3e4e0fe3bfff09d56297d30bcac1fad374701380678"
    assert synthesize(2_400, seed=3, drift=Drift(from_frame=7)).equals(synthesize(2_400, seed=3))


def test_shift_moves_only_the_named_features_from_the_frame_on() -> None:
    plain = synthesize(ROWS, seed=5)
    drifted = synthesize(ROWS, seed=5, drift=Drift(from_frame=7, shift={"V3": 1.5, "V11": -2.0}))
    before, after = slice(0, 6 * FRAME), slice(6 * FRAME, ROWS)
    assert drifted.iloc[before].equals(plain.iloc[before])
    untouched = [c for c in plain.columns if c not in ("V3", "V11")]
    assert drifted[untouched].equals(plain[untouched])
    for name, sigmas in (("V3", 1.5), ("V11", -2.0)):
        moved = drifted[name].iloc[after] - plain[name].iloc[after]
        assert moved.to_numpy() == pytest.approx(sigmas * plain[name].iloc[before].std(ddof=0))


@pytest.mark.parametrize("rate", [2.0, 0.5, 0.0])
def test_fraud_rate_multiplies_the_frauds_of_the_drifted_frames(rate: float) -> None:
    plain = synthesize(ROWS * 4, seed=6)
    drifted = synthesize(ROWS * 4, seed=6, drift=Drift(from_frame=7, fraud_rate=rate))
    half = len(plain) // 12 * 6
    assert drifted.iloc[:half].equals(plain.iloc[:half])
    assert int(drifted["Class"].iloc[half:].sum()) == round(int(plain["Class"].iloc[half:].sum()) * rate)
    frauds = drifted.iloc[half:][drifted["Class"].iloc[half:] == 1]
    if len(frauds):  # new frauds carry the usual signal: V14 well below the ordinary rows'
        assert frauds["V14"].mean() < drifted["V14"].iloc[half:].median() - 1.0


def test_swap_moves_the_fraud_signal_to_other_components() -> None:
    data = synthesize(ROWS * 8, seed=8, drift=Drift(from_frame=7, pattern="swap"))
    half = len(data) // 12 * 6
    early, late = data.iloc[:half], data.iloc[half:]

    def gap(part: pd.DataFrame, column: str) -> float:
        return float(part.loc[part["Class"] == 1, column].mean() - part.loc[part["Class"] == 0, column].mean())

    assert gap(early, "V14") < -2.0 and abs(gap(early, "V1")) < 1.0
    assert abs(gap(late, "V14")) < 1.0 and gap(late, "V1") < -2.0  # V1 took V14's direction


@pytest.mark.parametrize(
    ("drift", "message"),
    [
        ({"from_frame": 13}, "drift frame 13 is out of range 1..12"),
        ({"from_frame": 7, "shift": {"V99": 1.0}}, "cannot shift V99"),
        ({"from_frame": 7, "shift": {"Class": 1.0}}, "cannot shift Class"),
        ({"from_frame": 7, "fraud_rate": -1.0}, "must be a multiplier >= 0"),
        ({"from_frame": 7, "pattern": "sideways"}, "unknown fraud pattern 'sideways'"),
    ],
)
def test_bad_drift_is_refused_by_name(drift: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape(message)):
        Drift(**drift)
