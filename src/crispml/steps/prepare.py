"""Algorithm-independent cleaning: types, duplicates, missing values, constant columns.

`fit_preparation` learns a `Preparation` from a dataset and reports what it changed; the same
`Preparation` turns raw new records into the prepared shape at scoring time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from crispml.domain import FRAME, RECORD_ID
from crispml.errors import InvalidInput


class MissingPolicy(StrEnum):
    DROP = "drop"  # drop rows with any missing feature; new records with gaps are refused
    MEDIAN = "median"  # fill with the column's median in the prepared data
    ZERO = "zero"  # fill with 0


@dataclass(frozen=True)
class Preparation:
    """What preparation does to a record; stored as JSON and replayed on new data."""

    columns_in: list[str]
    drop_columns: list[str]
    fill: dict[str, float]
    policy: str
    step: str = "prepare"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def columns_out(self) -> list[str]:
        return [c for c in self.columns_in if c not in self.drop_columns]


@dataclass
class PreparationReport:
    rows_in: int = 0
    rows_out: int = 0
    duplicates_removed: int = 0
    rows_with_missing: int = 0
    rows_dropped_missing: int = 0
    rows_dropped_missing_target: int = 0
    values_filled: dict[str, int] = field(default_factory=dict)
    coerced_columns: list[str] = field(default_factory=list)
    non_numeric_columns: list[str] = field(default_factory=list)
    constant_columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fit_preparation(
    frame: pd.DataFrame, features: list[str], target: str, policy: MissingPolicy
) -> tuple[pd.DataFrame, Preparation, PreparationReport]:
    """Clean `frame` and return (prepared frame, the replayable preparation, the report)."""
    report = PreparationReport(rows_in=len(frame))
    data = frame.copy()

    # Types: features must be numeric; text that parses as numbers is converted, anything else dropped.
    drop_columns: list[str] = []
    for column in features:
        if pd.api.types.is_bool_dtype(data[column]):
            data[column] = data[column].astype("float64")
        elif not pd.api.types.is_numeric_dtype(data[column]):
            converted = pd.to_numeric(data[column], errors="coerce")
            if converted.notna().sum() == data[column].notna().sum():
                data[column] = converted
                report.coerced_columns.append(column)
            else:
                drop_columns.append(column)
                report.non_numeric_columns.append(column)

    missing_target = data[target].isna()
    report.rows_dropped_missing_target = int(missing_target.sum())
    data = data[~missing_target]

    kept = [c for c in features if c not in drop_columns]
    duplicated = data.duplicated(subset=[*kept, target], keep="first")
    report.duplicates_removed = int(duplicated.sum())
    data = data[~duplicated]

    gaps = data[kept].isna()
    report.rows_with_missing = int(gaps.any(axis=1).sum())
    fill: dict[str, float] = {}
    if policy is MissingPolicy.DROP:
        report.rows_dropped_missing = report.rows_with_missing
        data = data[~gaps.any(axis=1)]
    else:
        for column in kept:
            count = int(gaps[column].sum())
            value = float(data[column].median()) if policy is MissingPolicy.MEDIAN else 0.0
            fill[column] = 0.0 if np.isnan(value) else value
            if count:
                report.values_filled[column] = count
        data = data.fillna(fill)

    if data.empty:
        raise InvalidInput("preparation left no rows: every row had a missing value or target", field="policy")
    constant = [c for c in kept if data[c].nunique(dropna=False) <= 1]
    report.constant_columns = constant
    drop_columns.extend(constant)

    data[target] = data[target].astype("int64")
    preparation = Preparation(columns_in=list(features), drop_columns=drop_columns, fill=fill, policy=str(policy))
    ordered = [c for c in (RECORD_ID, FRAME) if c in data.columns] + preparation.columns_out + [target]
    data = data[ordered].reset_index(drop=True)
    report.rows_out = len(data)
    return data, preparation, report
