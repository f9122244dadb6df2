"""Algorithm-specific transforms, fitted on training frames only and replayed on new records.

Tree ensembles (rf, hgb, lgbm) split on order alone, so they get the prepared features unchanged. A
linear model needs comparable scales: heavily skewed non-negative columns (money amounts) go through
log1p, then every feature is standardised with the training frames' mean and deviation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

SCALED_ALGORITHMS = {"logreg"}
_SKEW_LIMIT = 2.0


@dataclass(frozen=True)
class Curation:
    algorithm: str
    fit_frames: list[int]
    log1p: list[str]
    center: dict[str, float]
    scale: dict[str, float]
    step: str = "curate"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fit_curation(training: pd.DataFrame, features: list[str], algorithm: str, fit_frames: list[int]) -> Curation:
    """Learn the transform for `algorithm` from the training rows only."""
    if algorithm not in SCALED_ALGORITHMS:
        return Curation(algorithm, fit_frames, [], {}, {})
    data = training[features].astype("float64")
    log1p = [c for c in features if data[c].min() >= 0 and abs(float(data[c].skew())) > _SKEW_LIMIT]
    data[log1p] = np.log1p(data[log1p])
    center = {c: float(data[c].mean()) for c in features}
    scale = {c: float(data[c].std(ddof=0)) or 1.0 for c in features}
    return Curation(algorithm, fit_frames, log1p, center, scale)


def apply_curation(features: pd.DataFrame, curation: Curation) -> pd.DataFrame:
    """Apply a fitted curation to a frame of feature columns (float64)."""
    if not curation.center and not curation.log1p:
        return features
    columns = [str(c) for c in features.columns]
    curated = curate_matrix(features.to_numpy(dtype=np.float64), columns, curation)
    return pd.DataFrame(curated, columns=features.columns, index=features.index)


def curate_matrix(matrix: np.ndarray, columns: list[str], curation: Curation) -> np.ndarray:
    """Apply a fitted curation to a float64 matrix whose columns are named `columns` (a new matrix, or
    `matrix` itself when the curation changes nothing)."""
    return curator(columns, curation)(matrix)


def curator(columns: list[str], curation: Curation) -> Callable[[np.ndarray], np.ndarray]:
    """`curate_matrix` worked out once for a column order: the columns' positions and the means and
    scales as arrays, so each call is a few whole-matrix operations. Looping over a scaled model's 30
    columns took 180 us for a one-record request; this takes a few."""
    if not curation.center and not curation.log1p:
        return unchanged
    position = {c: i for i, c in enumerate(columns)}
    logged = np.array([position[c] for c in curation.log1p], dtype=np.intp)
    centred = np.array([position[c] for c in curation.center], dtype=np.intp)
    means = np.array(list(curation.center.values()), dtype=np.float64)
    scales = np.array([curation.scale[c] for c in curation.center], dtype=np.float64)

    def curate(matrix: np.ndarray) -> np.ndarray:
        data = np.array(matrix, dtype=np.float64)
        if logged.size:
            # Negative amounts cannot be log-transformed; clip to the training domain instead of failing.
            data[:, logged] = np.log1p(np.clip(data[:, logged], 0, None))
        if centred.size:
            data[:, centred] = (data[:, centred] - means) / scales
        return data

    return curate


def unchanged(matrix: np.ndarray) -> np.ndarray:
    """The stage that changes nothing (a tree model's curation, a selection of the columns as they are)."""
    return matrix
