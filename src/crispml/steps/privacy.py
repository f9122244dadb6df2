"""Data protection on frames: column tags, keyed pseudonyms, k-anonymity (with l-diversity), a subject's rows.

Pure: frames and parameters in, frames and plain reports out. The pseudonym key is handed in by the
caller; nothing here reads settings or files.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from crispml.domain import RECORD_ID, RESERVED_COLUMNS
from crispml.errors import InvalidInput

MAX_LEVEL = 10
"""Numeric generalization levels: level j cuts a column's range into 2**(MAX_LEVEL - j) equal bins, so
the top level holds every value in one bin. Level 0 keeps values as they are."""
SUPPRESSED = "*"
"""What a text quasi-identifier reads once generalized (its only level above 0)."""


class Tag(StrEnum):
    PERSONAL = "personal"  # identifies a person on its own (name, e-mail, customer number)
    QUASI_IDENTIFIER = "quasi-identifier"  # identifies in combination (age, postcode)
    SENSITIVE = "sensitive"  # must not be linked to a person (diagnosis, income)


def taggable(columns: Sequence[str], key: str | None) -> list[str]:
    """What a dataset's tags may name: its columns, and the key column its record ids were read from."""
    return [c for c in columns if c not in RESERVED_COLUMNS] + ([key] if key else [])


def check_tags(tags: Mapping[str, str], columns: Sequence[str]) -> dict[str, str]:
    """Tags by column, checked: each names one of `columns` (see `taggable`) and one of the three tags."""
    checked: dict[str, str] = {}
    for column, tag in tags.items():
        if column not in columns:
            raise InvalidInput(f"cannot tag column {column!r}: the dataset has no such column", field="tags")
        try:
            checked[column] = Tag(tag).value
        except ValueError:
            choices = ", ".join(t.value for t in Tag)
            raise InvalidInput(f"unknown tag {tag!r} for column {column!r}; choose {choices}", field="tags") from None
    return checked


def tagged(tags: Mapping[str, str], tag: Tag) -> list[str]:
    """The columns carrying `tag`, in the order the tags list them."""
    return [column for column, value in tags.items() if value == tag.value]


def carried_tags(tags: Mapping[str, str], columns: Sequence[str]) -> dict[str, str]:
    """The tags a derived dataset keeps: those of its columns that still exist."""
    return {column: tag for column, tag in tags.items() if column in columns}


# -- pseudonymization -------------------------------------------------------------------------------
def pseudonyms(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 (hex) of each value's text under `key`; missing values stay missing.

    The same value gives the same pseudonym in every dataset (and as a record id), so joins still meet;
    without the key a pseudonym cannot be traced back or recomputed.
    """
    if not key:
        raise InvalidInput("the pseudonym key is empty", field="key")
    present = values.notna()
    texts = values[present].map(_text)
    uniques = pd.unique(texts.to_numpy())
    # Each distinct value is hashed once: a column of customer ids repeats.
    table = {u: hmac.new(key, str(u).encode(), hashlib.sha256).hexdigest() for u in uniques}
    out = pd.Series(pd.NA, index=values.index, dtype="object")
    out[present] = texts.map(table)
    return out


def _text(value: Any) -> str:
    """A value's canonical text: integral floats lose their '.0', so 42 and 42.0 meet."""
    if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return str(value)


def pseudonymize(frame: pd.DataFrame, columns: Sequence[str], key: bytes, key_column: str | None) -> pd.DataFrame:
    """`frame` with `columns` replaced by their pseudonyms. `key_column` is the column the record ids
    were read from (the dataset's key): naming it pseudonymizes the record ids, which then still meet
    the same value pseudonymized anywhere else."""
    out = frame.copy()
    for column in columns:
        if key_column is not None and column == key_column:
            out[RECORD_ID] = pseudonyms(out[RECORD_ID], key)
        elif column in out.columns and column not in RESERVED_COLUMNS:
            out[column] = pseudonyms(out[column], key)
        else:
            raise InvalidInput(f"cannot pseudonymize {column!r}: the dataset has no such column", field="columns")
    return out


# -- anonymization ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Anonymized:
    """An anonymized frame and what it cost."""

    frame: pd.DataFrame
    k_requested: int
    k_achieved: int
    l_requested: int | None
    l_achieved: int | None
    rows_in: int
    rows_suppressed: int
    levels: dict[str, int]
    information_loss: float
    """Normalized certainty penalty in [0, 1]: per kept row and quasi-identifier, the generalized
    interval's width over the column's range (1 for a suppressed text value), averaged, with each
    suppressed row counted as a full loss."""

    @property
    def reached(self) -> bool:
        l_ok = self.l_requested is None or (self.l_achieved or 0) >= self.l_requested
        return self.k_achieved >= self.k_requested and l_ok and self.frame.shape[0] > 0

    def report(self) -> dict[str, Any]:
        return {
            "k_requested": self.k_requested,
            "k_achieved": self.k_achieved,
            "l_requested": self.l_requested,
            "l_achieved": self.l_achieved,
            "rows_in": self.rows_in,
            "rows_suppressed": self.rows_suppressed,
            "levels": self.levels,
            "information_loss": round(self.information_loss, 6),
        }


def anonymize(
    frame: pd.DataFrame,
    quasi_identifiers: Sequence[str],
    k: int,
    *,
    sensitive: str | None = None,
    l_diversity: int | None = None,
    max_suppression: float = 0.05,
) -> Anonymized:
    """Generalize quasi-identifiers and suppress rows until every group of equal quasi-identifiers holds
    at least `k` rows (and, with `sensitive`, `l_diversity` distinct sensitive values).

    Deterministic greedy search: start from the data as it is; while more than `max_suppression` of the
    rows would have to go, raise by one level the quasi-identifier with the most distinct values (ties:
    the first listed). The caller checks `reached`: the result may fall short (too few rows at all).
    """
    _check_anonymization(frame, quasi_identifiers, k, sensitive, l_diversity, max_suppression)
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
               for c in quasi_identifiers}  # fmt: skip
    top = {c: MAX_LEVEL if numeric[c] else 1 for c in quasi_identifiers}
    levels = dict.fromkeys(quasi_identifiers, 0)
    allowed = math.floor(max_suppression * len(frame))
    diverse = None if sensitive is None else pd.factorize(frame[sensitive], use_na_sentinel=False)[0]
    codes: dict[tuple[str, int], np.ndarray] = {}

    def code(column: str) -> np.ndarray:
        # Integer codes of a column's values at its current level, kept for the levels tried.
        if (column, levels[column]) not in codes:
            codes[column, levels[column]] = _codes(frame[column], levels[column], numeric[column])
        return codes[column, levels[column]]

    while True:
        failing = _failing(
            [code(c) for c in quasi_identifiers], k, diverse, l_diversity if l_diversity is not None else 0
        )
        raisable = [c for c in quasi_identifiers if levels[c] < top[c]]
        if int(failing.sum()) <= allowed or not raisable:
            break
        # The column with the most distinct values left gives up a level (ties: the first named).
        widest = max(raisable, key=lambda c: (int(code(c).max(initial=-1)), -quasi_identifiers.index(c)))
        levels[widest] += 1
    out = frame.copy()
    for column in quasi_identifiers:
        out[column] = _generalize(frame[column], levels[column], numeric[column])
    kept = out[~failing].reset_index(drop=True)
    k_achieved, l_achieved = _achieved(kept, quasi_identifiers, sensitive)
    suppressed = int(failing.sum())
    return Anonymized(
        frame=kept,
        k_requested=k,
        k_achieved=k_achieved,
        l_requested=l_diversity,
        l_achieved=l_achieved if sensitive is not None else None,
        rows_in=len(frame),
        rows_suppressed=suppressed,
        levels=levels,
        information_loss=_information_loss(frame, quasi_identifiers, levels, numeric, suppressed),
    )


def _check_anonymization(frame: pd.DataFrame, quasi: Sequence[str], k: int, sensitive: str | None,
                         l_diversity: int | None, max_suppression: float) -> None:  # fmt: skip
    if not quasi:
        raise InvalidInput(
            "name the quasi-identifier columns (or tag some quasi-identifier)", field="quasi_identifiers"
        )
    for column in quasi:
        if column not in frame.columns or column in RESERVED_COLUMNS:
            raise InvalidInput(f"quasi-identifier {column!r} is not a column of the dataset", field="quasi_identifiers")
    if len(set(quasi)) != len(quasi):
        raise InvalidInput("a quasi-identifier is named twice", field="quasi_identifiers")
    if k < 1:
        raise InvalidInput(f"k must be at least 1, not {k}", field="k")
    if not 0 <= max_suppression <= 1:
        raise InvalidInput(f"max_suppression {max_suppression} must lie in [0, 1]", field="max_suppression")
    if (sensitive is None) != (l_diversity is None):
        raise InvalidInput("l-diversity needs both a sensitive column and l", field="l_diversity")
    if sensitive is not None:
        if sensitive not in frame.columns or sensitive in quasi:
            raise InvalidInput(f"sensitive column {sensitive!r} is not a column apart from the quasi-identifiers",
                               field="sensitive")  # fmt: skip
        if l_diversity is not None and l_diversity < 1:
            raise InvalidInput(f"l must be at least 1, not {l_diversity}", field="l_diversity")


def _generalize(values: pd.Series, level: int, numeric: bool) -> pd.Series:
    """A column at a generalization level, as text: numbers as their bin's interval, other values '*'."""
    if level == 0:
        return values
    if not numeric:
        return pd.Series(SUPPRESSED, index=values.index, dtype="object")
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    bins = _bins(values, level)
    low, high = np.nanmin(numbers, initial=np.inf), np.nanmax(numbers, initial=-np.inf)
    width = (high - low) / 2 ** (MAX_LEVEL - level) if high > low else 0.0
    codes, uniques = pd.factorize(bins)  # NaN gets -1
    last = 2 ** (MAX_LEVEL - level) - 1
    labels = np.array([_interval(low + b * width, width, b == last) for b in uniques] + [None], dtype="object")
    return pd.Series(labels[codes], index=values.index, dtype="object")


def _interval(start: float, width: float, last: bool) -> str:
    """A bin as text: half-open, except the last (and a zero-width one), which holds its end."""
    return f"[{_num(start)}, {_num(start + width)}{']' if last or not width else ')'}"


def _num(value: float) -> str:
    return f"{float(value):.6g}"


def _codes(values: pd.Series, level: int, numeric: bool) -> np.ndarray:
    """Codes 0..n-1 of a column's distinct values at a level (missing values are one more value)."""
    if level > 0 and not numeric:
        return np.zeros(len(values), dtype=np.int64)
    if level > 0:
        values = pd.Series(_bins(values, level), index=values.index)
    return np.asarray(pd.factorize(values, use_na_sentinel=False)[0], dtype=np.int64)


def _bins(values: pd.Series, level: int) -> np.ndarray:
    """The bin index of each number at a level (NaN stays NaN); one bin when all values are equal."""
    numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    low, high = np.nanmin(numbers, initial=np.inf), np.nanmax(numbers, initial=-np.inf)
    if not high > low:
        return np.where(np.isnan(numbers), np.nan, 0.0)
    count = 2 ** (MAX_LEVEL - level)
    width = (high - low) / count
    # Clipped so the maximum falls in the last bin instead of one of its own.
    return np.minimum(np.floor((numbers - low) / width), count - 1)


def _failing(columns: list[np.ndarray], k: int, sensitive: np.ndarray | None, l_diversity: int) -> np.ndarray:
    """Rows whose group (equal codes in every column) has fewer than k rows or fewer than l distinct
    sensitive values: a group id per row, then counts by bincount, all vectorised."""
    group = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        # Re-factorized each step so the combined id never overflows.
        group = pd.factorize(group * (int(column.max(initial=0)) + 1) + column)[0].astype(np.int64)
    sizes = np.bincount(group)
    failing = sizes[group] < k
    if sensitive is not None and l_diversity > 1:
        pairs = np.unique(group * (int(sensitive.max(initial=0)) + 1) + sensitive)
        distinct = np.bincount(pairs // (int(sensitive.max(initial=0)) + 1), minlength=len(sizes))
        failing |= distinct[group] < l_diversity
    return np.asarray(failing, dtype=bool)


def _achieved(kept: pd.DataFrame, quasi: Sequence[str], sensitive: str | None) -> tuple[int, int]:
    """(smallest group size, fewest distinct sensitive values in a group) of a result; 0 if empty."""
    if kept.empty:
        return 0, 0
    groups = kept.groupby(list(quasi), dropna=False, sort=False)
    k_achieved = int(groups.size().min())
    l_achieved = int(groups[sensitive].nunique().min()) if sensitive is not None else 0
    return k_achieved, l_achieved


def _information_loss(frame: pd.DataFrame, quasi: Sequence[str], levels: Mapping[str, int],
                      numeric: Mapping[str, bool], suppressed: int) -> float:  # fmt: skip
    if frame.empty:
        return 0.0
    per_column = []
    for column in quasi:
        level = levels[column]
        if level == 0:
            per_column.append(0.0)
        elif not numeric[column]:
            per_column.append(1.0)
        elif frame[column].nunique() <= 1:
            per_column.append(0.0)  # one value: binning it loses nothing
        else:
            per_column.append(2.0 ** -(MAX_LEVEL - level))  # bin width over the range
    kept_share = 1 - suppressed / len(frame)
    return float(kept_share * (sum(per_column) / len(per_column)) + suppressed / len(frame))


# -- erasure ----------------------------------------------------------------------------------------
def subject_rows(frame: pd.DataFrame, column: str, value: str) -> pd.Series:
    """Rows whose `column` equals `value` (given as text): as text, or as a number for a numeric column."""
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        try:
            number = float(value)
        except ValueError:
            return pd.Series(False, index=frame.index)
        return pd.Series(values.to_numpy(dtype="float64") == number, index=frame.index)
    return values.notna() & (values.map(_text) == value)
