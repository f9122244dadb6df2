"""Records of plain numbers skip pandas on the hot path; they must get the ids and features the frame path gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crispml.errors import InvalidInput
from crispml.steps.columns import arrow_numbers, plain_numbers
from crispml.steps.curate import Curation
from crispml.steps.pipeline import apply_pipeline, replay
from crispml.steps.prepare import Preparation
from crispml.steps.record_ids import LEGACY, SCHEME, frame_ids, matrix_ids

COLUMNS = ["Time", "V1", "V2", "Amount"]
PIPELINE = [
    Preparation(columns_in=COLUMNS, drop_columns=["Time"], fill={"V2": 0.5}, policy="median").to_json(),
    Curation(
        "logreg", [1], log1p=["Amount"], center={"V1": 0.1, "Amount": 2.0}, scale={"V1": 3.0, "Amount": 1.5}
    ).to_json(),
]
FEATURES = ["V1", "V2", "Amount"]


def records(count: int, seed: int = 0) -> list[dict[str, float | int]]:
    rng = np.random.default_rng(seed)
    rows = [
        {"Time": int(t), "V1": float(a), "V2": float(b), "Amount": float(m)}
        for t, a, b, m in zip(rng.integers(0, 1000, count), rng.normal(size=count), rng.normal(size=count),
                              rng.gamma(1.0, 50.0, count), strict=True)
    ]  # fmt: skip
    rows[0]["Amount"] = -0.0
    rows[1]["V1"] = 0
    return rows


@pytest.mark.parametrize("scheme", [SCHEME, LEGACY])
def test_content_ids_equal_the_ids_ingestion_derives(scheme: str) -> None:
    rows = records(500)
    rows += [dict(row) for row in rows[:3]]  # repeated records get suffixed ids
    frame = pd.DataFrame.from_records(rows)
    expected = frame_ids(frame[COLUMNS], scheme)
    assert matrix_ids(plain_numbers(rows, COLUMNS), scheme) == expected  # type: ignore[arg-type]
    assert expected[500].endswith("~2") and expected[500].startswith(expected[0])


@pytest.mark.parametrize("scheme", [SCHEME, LEGACY])
@pytest.mark.parametrize("count", [1, 2, 8, 9, 40])
def test_content_ids_agree_with_ingestion_on_few_and_many_rows(count: int, scheme: str) -> None:
    rows = records(max(count, 2))[:count]
    expected = frame_ids(pd.DataFrame.from_records(rows)[COLUMNS], scheme)
    assert matrix_ids(plain_numbers(rows, COLUMNS), scheme) == expected  # type: ignore[arg-type]


def test_replaying_plain_numbers_equals_the_frame_path() -> None:
    rows = records(300)
    frame_path = apply_pipeline(pd.DataFrame.from_records(rows), PIPELINE, FEATURES)
    raw = plain_numbers(rows, COLUMNS)
    assert raw is not None
    plain_path = replay(raw[:, 1:], COLUMNS[1:], PIPELINE, FEATURES)
    assert np.array_equal(plain_path, frame_path)  # bit for bit, not approximately


def test_large_integers_convert_as_the_frame_path_converts_them() -> None:
    rows = records(3)
    rows[1]["Time"], rows[2]["Time"] = 2**60 + 1, -(2**53) - 1
    frame = pd.DataFrame.from_records(rows)
    matrix = plain_numbers(rows, COLUMNS)
    assert matrix is not None
    assert np.array_equal(matrix, frame[COLUMNS].astype("float64").to_numpy())
    assert matrix_ids(matrix) == frame_ids(frame[COLUMNS])


@pytest.mark.parametrize("value", ["1.5", None, True, float("nan"), float("inf"), 10**400, [1.0]], ids=repr)
def test_anything_but_plain_finite_numbers_takes_the_frame_path(value: object) -> None:
    rows = records(3)
    rows[2]["V1"] = value  # type: ignore[assignment]
    assert plain_numbers(rows, COLUMNS) is None
    assert plain_numbers([{"V1": 1.0}], COLUMNS) is None  # a missing column too


def test_the_frame_path_still_names_what_it_refuses() -> None:
    rows = records(3)
    rows[1]["V1"] = "abc"  # type: ignore[assignment]
    with pytest.raises(InvalidInput, match="column 'V1' must be numeric; got 'abc'"):
        apply_pipeline(pd.DataFrame.from_records(rows), PIPELINE, FEATURES)
    rows[1]["V1"] = None  # type: ignore[assignment]
    with pytest.raises(InvalidInput, match="column 'V1' has missing values and the preparation fills none"):
        apply_pipeline(pd.DataFrame.from_records(rows), PIPELINE, FEATURES)
    rows[1]["V1"], rows[1]["V2"] = 1.0, None  # type: ignore[assignment]
    filled = apply_pipeline(pd.DataFrame.from_records(rows), PIPELINE, FEATURES)
    assert filled[1, 1] == 0.5  # the preparation's fill value


def test_arrow_columns_give_the_frame_paths_matrix_or_step_aside() -> None:
    frame = pd.DataFrame.from_records(records(200))
    table = pa.Table.from_pandas(frame, preserve_index=False)
    matrix = arrow_numbers(table, COLUMNS[1:])
    assert matrix is not None
    assert np.array_equal(replay(matrix, COLUMNS[1:], PIPELINE, FEATURES), apply_pipeline(frame, PIPELINE, FEATURES))
    with_gap = table.set_column(1, "V1", pa.array([None, *frame["V1"].iloc[1:]], pa.float64()))
    as_text = table.set_column(1, "V1", pa.array(frame["V1"].astype(str)))
    assert arrow_numbers(with_gap, COLUMNS[1:]) is None and arrow_numbers(as_text, COLUMNS[1:]) is None
