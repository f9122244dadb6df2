"""Ingestion: cut raw rows into time frames, sample, and give every row a stable record id."""

from __future__ import annotations

from functools import cache

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


def derive_record_ids(frame: pd.DataFrame, exclude: list[str]) -> pd.Series:
    """Record ids from row content: the same record gets the same id in any file it arrives in.

    A 64-bit hash of every column but `exclude` (the target), in hex; repeated identical rows get a
    suffix `~2`, `~3`... in order of appearance so ids stay unique.
    """
    content = frame.drop(columns=[c for c in exclude if c in frame.columns])
    # Numbers hash as float64 so 5 from a JSON record and 5.0 from a CSV give the same id.
    content = content.astype({c: "float64" for c in content.columns if pd.api.types.is_numeric_dtype(content[c])})
    hashes = pd.util.hash_pandas_object(content, index=False).to_numpy()
    return pd.Series(_unique_hex(hashes), index=frame.index)


def content_ids(matrix: np.ndarray) -> list[str]:
    """`derive_record_ids` of a float64 matrix of records (rows) by columns, without building a frame.

    Each value hashes alone (pandas' hash_array) and a row's hashes combine in column order exactly as
    `hash_pandas_object` combines a frame's columns, so both give every record the same id (a test
    pins it).
    """
    rows, columns = matrix.shape
    by_column = pd.util.hash_array(np.ascontiguousarray(matrix.T).ravel()).reshape(columns, rows)
    factors = _combine_factors(columns)
    hashes: list[int] = []
    if rows <= _FEW_ROWS:  # Python integers beat numpy's cost per call on a few rows
        for row in by_column.T.tolist():
            combined = _COMBINE_START
            for value, factor in zip(row, factors, strict=True):
                combined = ((combined ^ value) * factor) & _UINT64
            hashes.append((combined + _COMBINE_END) & _UINT64)
    else:
        out = np.full(rows, _COMBINE_START, dtype=np.uint64)
        for column, factor in zip(by_column, factors, strict=True):
            out ^= column
            out *= np.uint64(factor)
        hashes = (out + np.uint64(_COMBINE_END)).tolist()
    return _unique_hex(hashes)


_FEW_ROWS = 8
_UINT64 = (1 << 64) - 1
_COMBINE_START, _COMBINE_END = 0x345678, 97531


@cache
def _combine_factors(columns: int) -> tuple[int, ...]:
    """The factor pandas' combine_hash_arrays multiplies by after each of `columns` column hashes."""
    factors, factor = [], 1000003
    for i in range(columns):
        factors.append(factor)
        factor = (factor + 82520 + 2 * (columns - i)) & _UINT64
    return tuple(factors)


def _unique_hex(hashes: np.ndarray | list[int]) -> list[str]:
    values = hashes.tolist() if isinstance(hashes, np.ndarray) else hashes
    ids = [f"{h:016x}" for h in values]
    if len(set(ids)) == len(ids):
        return ids
    seen: dict[str, int] = {}
    for i, record_id in enumerate(ids):
        seen[record_id] = count = seen.get(record_id, 0) + 1
        if count > 1:
            ids[i] = f"{record_id}~{count}"
    return ids


def key_record_ids(frame: pd.DataFrame, key: str) -> pd.Series:
    """Record ids from a named key column, which must be present on every row and unique."""
    ids = frame[key]
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty.any():
        raise InvalidInput(f"key column {key!r} is empty on {int(empty.sum())} rows", field=key)
    ids = ids.astype(str)
    duplicated = ids[ids.duplicated()]
    if not duplicated.empty:
        raise InvalidInput(
            f"key column {key!r} is not unique: {duplicated.iloc[0]!r} appears more than once", field=key
        )
    return ids


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
