"""Checks every step applies to incoming records: required columns present, values numeric."""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from crispml.errors import InvalidInput


def require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    """Refuse records that lack any of `columns`, naming the first missing one."""
    refuse_missing([c for c in columns if c not in frame.columns])


def refuse_missing(missing: list[str]) -> None:
    """Refuse records that lack the columns in `missing` (if any), naming the first."""
    if missing:
        raise InvalidInput(f"records lack column {missing[0]!r} (needed: {', '.join(missing)})", field=missing[0])


def as_numeric(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """`columns` of `frame` as float64; text that parses as a number is converted, anything else refused.

    Missing values (None, null) stay NaN for the model's missing-value policy to fill or refuse; a value
    that is there but is not a finite number (text, an object, a list, NaN or an infinity, also written
    as text such as "Infinity" or "-inf") is refused naming its record (0-based) and column.
    """
    data = frame[columns]  # copy-on-write: the assignments below never touch `frame`
    for column in columns:
        values = data[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            converted = pd.to_numeric(values.astype("object") if pd.api.types.is_bool_dtype(values) else values,
                                      errors="coerce")  # fmt: skip
            bad = converted.isna() & values.notna()
            if bad.any():
                _refuse(column, bad.to_numpy(), values, "must be numeric")
            data[column] = converted
    matrix = data.to_numpy(dtype=np.float64)
    infinite = np.isinf(matrix)
    if infinite.any():  # vectorised: one pass over the matrix, not a check per value
        j = int(np.argmax(infinite.any(axis=0)))
        _refuse(columns[j], infinite[:, j], frame[columns[j]], "must be a finite number")
    return data.astype("float64")


def _refuse(column: str, bad: np.ndarray, values: pd.Series, problem: str) -> None:
    row = int(np.argmax(bad))
    raise InvalidInput(f"record {row}: column {column!r} {problem}; got {values.iloc[row]!r}", field=column)


_PLAIN = {float, int}
"""Value types taken as they are; bool (a subclass of int) is not among them."""


def arrow_numbers(table: pa.Table, columns: list[str]) -> np.ndarray | None:
    """`columns` of an Arrow table as a float64 matrix when all are numeric and complete; else None
    (the frame path then converts what it can and names what it cannot)."""
    arrays = []
    for name in columns:
        column = table.column(name)
        kind = column.type
        if column.null_count or not (pa.types.is_floating(kind) or pa.types.is_integer(kind)):
            return None
        arrays.append(column.to_numpy())
    matrix = np.empty((table.num_rows, len(columns)), dtype=np.float64)
    for j, values in enumerate(arrays):
        matrix[:, j] = values
    return matrix if np.isfinite(matrix).all() else None


def plain_numbers(records: list[dict[str, Any]], columns: list[str]) -> np.ndarray | None:
    """`columns` of `records` as a float64 matrix when every value is a finite int or float.

    None otherwise (a missing column or value, text, a bool, NaN): such records take the frame path,
    which converts what it can and names what it cannot. For plain numbers both give the same matrix.
    """
    pick = itemgetter(*columns) if len(columns) > 1 else (lambda record: (record[columns[0]],))
    try:
        values = list(chain.from_iterable([pick(record) for record in records]))
    except (KeyError, TypeError):
        return None
    if not set(map(type, values)) <= _PLAIN:
        return None
    try:
        matrix = np.fromiter(values, dtype=np.float64, count=len(values)).reshape(len(records), len(columns))
    except OverflowError:  # an integer beyond any float
        return None
    return matrix if np.isfinite(matrix).all() else None
