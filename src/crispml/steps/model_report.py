"""A trained model's arrays and report: features and target as arrays, KPIs per frame, curves, importances."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crispml.errors import InvalidInput
from crispml.steps import evaluate


def training_arrays(frame: pd.DataFrame, features: list[str], target: str, hint: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and target as arrays; gaps or text (possible in a raw dataset) are refused by name,
    with `hint` (what to do about it) appended."""
    values = frame[target]
    if values.isna().any():
        raise InvalidInput(
            f"target column {target!r} has {int(values.isna().sum())} missing values; {hint}", field=target
        )
    for column in features:
        column_values = frame[column]
        if not pd.api.types.is_numeric_dtype(column_values) or pd.api.types.is_bool_dtype(column_values):
            raise InvalidInput(f"column {column!r} is not numeric; {hint}", field=column)
        if column_values.isna().any():
            raise InvalidInput(
                f"column {column!r} has {int(column_values.isna().sum())} missing values; {hint}", field=column
            )
    return frame[features].to_numpy(dtype=np.float64), values.to_numpy(dtype=np.int64)


def training_report(
    model: Any,
    features: list[str],
    x: np.ndarray,
    y: np.ndarray,
    frame_numbers: np.ndarray,
    rows: np.ndarray,
    threshold: float,
    seed: int,
) -> dict[str, Any]:
    """KPIs overall and per frame on `rows`, with curves and importances."""
    if not rows.any():
        return {"frames": [], "overall": None, "per_frame": {}, "curves": {}, "importance": {}}
    score = model.predict_proba(x[rows])[:, 1]
    truth, numbers = y[rows], frame_numbers[rows]
    return {
        **_frame_kpis(truth, score, numbers, threshold),
        "curves": evaluate.curves(truth, score),
        "importance": evaluate.feature_importance(model, features, x[rows], truth, seed),
    }


def threshold_report(
    model: Any, x: np.ndarray, y: np.ndarray, frame_numbers: np.ndarray, rows: np.ndarray, threshold: float
) -> dict[str, Any]:
    """The threshold's KPIs (confusion, precision, recall, F1) overall and per frame on `rows`: what a
    report at another threshold changes (its curves and importances stay the same)."""
    if not rows.any():
        return {"frames": [], "overall": None, "per_frame": {}}
    return _frame_kpis(y[rows], model.predict_proba(x[rows])[:, 1], frame_numbers[rows], threshold)


def _frame_kpis(truth: np.ndarray, score: np.ndarray, numbers: np.ndarray, threshold: float) -> dict[str, Any]:
    per_frame = {
        str(int(f)): evaluate.kpis(truth[numbers == f], score[numbers == f], threshold) for f in np.unique(numbers)
    }
    return {
        "frames": sorted(int(f) for f in np.unique(numbers)),
        "overall": evaluate.kpis(truth, score, threshold),
        "per_frame": per_frame,
    }
