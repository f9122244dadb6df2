"""Record ids: the key that joins a record's scores to its late label, whatever route it came by.

A dataset keyed by a column takes that column's text as the id. Otherwise the id is a hash of the
record's content, defined in `docs/record-ids.md` and pinned by golden-value tests:

1. The values, in the columns the dataset holds (all but the target, in the source's order; a model
   scores the same columns in the same order).
2. Each value canonical: a number (int, float, bool, or text that reads as a number, such as "1.83")
   is its IEEE-754 float64, with -0.0 as 0.0; a missing value (null, NaN, empty) is the quiet NaN
   0x7FF8000000000000; any other text is the word 0x7FF1000000000000 + its UTF-8 length, then its
   UTF-8 bytes padded with zeros to a multiple of 8. Words are 8 bytes, little-endian.
3. XXH64 (seed 0) of those bytes, as 16 lower-case hex digits. Identical records within one request
   or file get `~2`, `~3`, ... in order of appearance, so ids stay unique.

Datasets ingested before this scheme record none; their ids were pandas' `hash_pandas_object`, and
`LEGACY` keeps computing them so that old models' scores still meet old labels.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import xxhash

from crispml.errors import InvalidInput

SCHEME = "xxh64-canonical-1"
"""The content-hash scheme new datasets record (dataset params `record_id_scheme`)."""
LEGACY = "pandas-hash-0"
"""The scheme of datasets ingested before schemes were recorded."""
SCHEMES = (SCHEME, LEGACY)

_MISSING = np.uint64(0x7FF8000000000000)
_TEXT = 0x7FF1000000000000
_ROWS_PER_SLICE = 8192
_hex = xxhash.xxh64_hexdigest  # the 16 hex digits of xxh64_intdigest, without formatting them in Python


def scheme_of(params: dict[str, Any]) -> str:
    """The content-hash scheme a dataset's ids were made with (its params; none recorded: legacy)."""
    scheme = params.get("record_id_scheme", LEGACY)
    if scheme not in SCHEMES:
        raise InvalidInput(f"record id scheme {scheme!r} is unknown to this crispml", field="record_id_scheme")
    return str(scheme)


def matrix_ids(matrix: np.ndarray, scheme: str = SCHEME) -> list[str]:
    """Content ids of a float64 matrix of records (rows) by columns, without building a frame."""
    if scheme == LEGACY:
        return _legacy_matrix_ids(matrix)
    return _numbered([_hex(row) for row in _canonical_numbers(matrix)])


def frame_ids(frame: pd.DataFrame, scheme: str = SCHEME) -> list[str]:
    """Content ids of a frame's rows over all its columns, in column order."""
    if scheme == LEGACY:
        return _legacy_frame_ids(frame)
    columns, text = _canonical_columns(frame)
    ids: list[str] = []
    # Rows are laid side by side a slice at a time in one small buffer: a whole frame's row-major
    # copy (68 MB for the fraud set) would cost more in fresh pages than the hashing itself.
    buffer = np.empty((min(len(frame), _ROWS_PER_SLICE), len(columns)), dtype=np.float64)
    for start in range(0, len(frame), _ROWS_PER_SLICE):
        rows = buffer[: min(_ROWS_PER_SLICE, len(frame) - start)]
        for j, column in enumerate(columns):
            rows[:, j] = column[start : start + len(rows)]
        _canonicalize(rows)
        if not text:
            ids += [_hex(row) for row in rows]
            continue
        words = rows.view(np.uint64)
        ids += [_hex(_mixed_bytes(words[i], text, start + i)) for i in range(len(rows))]
    return _numbered(ids)


def canonical_bytes(values: Sequence[Any]) -> bytes:
    """One record's canonical bytes (step 2 of the scheme); for tests and for readers of the docs."""
    frame = pd.DataFrame([list(values)], columns=[str(i) for i in range(len(values))])
    columns, text = _canonical_columns(frame)
    words = _canonical_numbers(np.array([column[0] for column in columns], dtype=np.float64)).view(np.uint64)
    return _mixed_bytes(words, text, 0)


def key_ids(frame: pd.DataFrame, key: str) -> list[str]:
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
    return ids.tolist()


def _canonical_numbers(matrix: np.ndarray) -> np.ndarray:
    """A C-contiguous float64 copy with -0.0 as 0.0 and every NaN as the one quiet NaN."""
    return _canonicalize(np.array(matrix, dtype=np.float64, order="C", copy=True))


def _canonicalize(numbers: np.ndarray) -> np.ndarray:
    """`numbers` (C-contiguous float64) made canonical in place: -0.0 as 0.0, every NaN the one quiet NaN."""
    numbers += 0.0  # -0.0 + 0.0 == +0.0
    gaps = np.isnan(numbers)
    if gaps.any():
        numbers.view(np.uint64)[gaps] = _MISSING
    return numbers


def _canonical_columns(frame: pd.DataFrame) -> tuple[list[np.ndarray], dict[int, list[str | None]]]:
    """Every column as float64 (NaN where missing or text), and by column index the text values that
    do not read as numbers (None elsewhere); columns without such text are left out of the dict."""
    numbers: list[np.ndarray] = []
    text: dict[int, list[str | None]] = {}
    for j in range(frame.shape[1]):
        values = frame.iloc[:, j]
        if pd.api.types.is_bool_dtype(values):
            values = values.astype("float64")
        if pd.api.types.is_numeric_dtype(values):
            numbers.append(values.to_numpy(dtype=np.float64, na_value=np.nan))
            continue
        objects = values.astype(object)
        as_numbers = pd.to_numeric(
            objects.map(lambda v: float(v) if isinstance(v, bool) else v), errors="coerce"
        ).to_numpy(dtype=np.float64, na_value=np.nan)
        numbers.append(as_numbers)
        missing = objects.isna().to_numpy() | objects.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy()
        words = np.isnan(as_numbers) & ~missing
        if words.any():
            text[j] = [str(v) if w else None for v, w in zip(objects.tolist(), words.tolist(), strict=True)]
    return numbers, text


def _mixed_bytes(words: np.ndarray, text: dict[int, list[str | None]], row: int) -> bytes:
    """The canonical bytes of a record with some text: its number words, with text in their place where
    `text` has some for this `row`."""
    parts = []
    for j, word in enumerate(words.tolist()):
        value = text[j][row] if j in text else None
        parts.append(struct.pack("<Q", word) if value is None else _text_bytes(value))
    return b"".join(parts)


def _text_bytes(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack("<Q", _TEXT + len(data)) + data + b"\0" * (-len(data) % 8)


def _numbered(ids: list[str]) -> list[str]:
    """`ids` with repeats suffixed `~2`, `~3`... in order of appearance."""
    if len(set(ids)) == len(ids):
        return ids
    seen: dict[str, int] = {}
    for i, record_id in enumerate(ids):
        seen[record_id] = count = seen.get(record_id, 0) + 1
        if count > 1:
            ids[i] = f"{record_id}~{count}"
    return ids


# -- the legacy scheme (datasets ingested before schemes were recorded) --------------------------
def _legacy_frame_ids(frame: pd.DataFrame) -> list[str]:
    # Numbers hash as float64 so 5 from a JSON record and 5.0 from a CSV give the same id.
    content = frame.astype({c: "float64" for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])})
    return _unique(pd.util.hash_pandas_object(content, index=False).to_numpy().tolist())


def _legacy_matrix_ids(matrix: np.ndarray) -> list[str]:
    """`_legacy_frame_ids` of a float64 matrix: each value hashed alone by pandas, combined per row
    as `hash_pandas_object` combines a frame's columns."""
    rows, columns = matrix.shape
    by_column = pd.util.hash_array(np.ascontiguousarray(matrix.T).ravel()).reshape(columns, rows)
    out = np.full(rows, _COMBINE_START, dtype=np.uint64)
    for column, factor in zip(by_column, _combine_factors(columns), strict=True):
        out ^= column
        out *= np.uint64(factor)
    return _unique((out + np.uint64(_COMBINE_END)).tolist())


def _unique(hashes: list[int]) -> list[str]:
    return _numbered([f"{h:016x}" for h in hashes])


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
