"""Ingestion: check the source's columns, cut raw rows into time frames, sample them, summarize columns."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crispml.domain import FRAME, RECORD_ID, ColumnStats
from crispml.errors import InvalidInput


def check_columns(frame: pd.DataFrame, target: str, key: str | None, time_column: str | None) -> None:
    """Fail, naming the column, when a column the caller relies on is absent or clashes."""
    columns = [str(c) for c in frame.columns]
    for role, name in (("target", target), ("key", key), ("time", time_column)):
        if name is not None and name not in columns:
            raise InvalidInput(
                f"{role} column {name!r} is missing; the source has {', '.join(columns[:40])}", field=name
            )
    if FRAME in columns:
        raise InvalidInput(f"column {FRAME!r} is reserved for time frames; rename it in the source", field=FRAME)
    if RECORD_ID in columns and key != RECORD_ID:
        raise InvalidInput(
            f"column {RECORD_ID!r} is reserved; pass --key {RECORD_ID} to use it as the record key",
            field=RECORD_ID,
        )


def binary_target(values: pd.Series) -> pd.Series:
    """The target as 0/1 integers (text '0'/'1' and booleans accepted; gaps stay missing)."""
    name = str(values.name)
    numbers = pd.to_numeric(values.astype("object") if pd.api.types.is_bool_dtype(values) else values, errors="coerce")
    bad = (numbers.isna() & values.notna()) | (numbers.notna() & ~numbers.isin([0, 1]))
    if bad.any():
        examples = sorted({str(v) for v in values[bad].head(100)})[:5]
        raise InvalidInput(f"target column {name!r} must hold 0 and 1 only; found {examples}", field=name)
    return numbers.astype("Int64") if numbers.isna().any() else numbers.astype("int64")


def assign_frames(frame: pd.DataFrame, slices: int, time_column: str | None = None) -> np.ndarray:
    """Frame numbers 1..slices: equal row counts in row order (the reference's way, the remainder
    joining the last frame), or equal-width intervals of `time_column` when one is named."""
    rows = len(frame)
    if slices < 1:
        raise InvalidInput("slices must be at least 1", field="slices")
    if slices > rows:
        raise InvalidInput(f"cannot cut {rows} rows into {slices} frames", field="slices")
    if time_column is None:
        return np.minimum(np.arange(rows) // (rows // slices) + 1, slices).astype(np.int32)
    time = pd.to_numeric(frame[time_column], errors="coerce").to_numpy(dtype=float)
    if np.isnan(time).any():
        raise InvalidInput(f"time column {time_column!r} has missing or non-numeric values", field=time_column)
    lo, hi = float(time.min()), float(time.max())
    if hi == lo:
        return np.ones(rows, dtype=np.int32)
    return np.minimum(((time - lo) / (hi - lo) * slices).astype(np.int64) + 1, slices).astype(np.int32)


def sample(frame: pd.DataFrame, percent_data: float, seed: int) -> pd.DataFrame:
    """Keep `percent_data` (0 < p <= 1) of the rows, drawn with `seed`, in their original order."""
    if not 0 < percent_data <= 1:
        raise InvalidInput(f"percent_data {percent_data} must lie in (0, 1]", field="percent_data")
    if percent_data == 1:
        return frame
    count = max(1, int(np.floor(len(frame) * percent_data)))
    chosen = np.sort(np.random.default_rng(seed).choice(len(frame), size=count, replace=False))
    return frame.iloc[chosen].reset_index(drop=True)


def summarize(frame: pd.DataFrame, columns: list[str]) -> list[ColumnStats]:
    """R's summary() of each numeric column: Min., 1st Qu., Median, Mean, 3rd Qu., Max."""
    stats = []
    for column in columns:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        data = values.dropna().to_numpy(dtype=float)
        if data.size == 0:
            continue
        q1, median, q3 = np.quantile(data, [0.25, 0.5, 0.75])
        stats.append(
            ColumnStats(
                column=column,
                min=float(data.min()),
                q1=float(q1),
                median=float(median),
                mean=float(data.mean()),
                q3=float(q3),
                max=float(data.max()),
            )
        )
    return stats
