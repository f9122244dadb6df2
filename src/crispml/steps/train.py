"""Fit an algorithm on feature and target arrays, reporting progress where the algorithm allows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from crispml.errors import InvalidInput
from crispml.steps.algorithms import Algorithm, BoosterModel, Estimator

Progress = Callable[[float], None]
_FOREST_CHUNKS = 10


def fit(
    algorithm: Algorithm,
    params: dict[str, Any],
    weight: float,
    seed: int,
    features: np.ndarray,
    target: np.ndarray,
    progress: Progress | None = None,
) -> Estimator:
    """Train and return a fitted estimator; deterministic for a given seed."""
    classes = np.unique(target)
    if classes.size < 2:
        raise InvalidInput(
            f"the training frames hold only class {classes.tolist()}; pick frames with both classes",
            field="frames",
        )
    estimator = algorithm.build(params, weight, seed)
    try:
        if algorithm.name == "rf" and progress is not None:
            _fit_forest_in_chunks(estimator, features, target, progress)
        else:
            estimator.fit(features, target)
    except ValueError as exc:
        # The library refused a parameter combination our up-front checks cannot foresee.
        raise InvalidInput(f"{algorithm.name} cannot train with these parameters: {exc}", field="params") from exc
    if algorithm.name == "lgbm":
        # Score through the booster, exactly as a model loaded from LightGBM's text format will.
        return BoosterModel(estimator.booster_)
    if progress is not None:
        progress(1.0)
    return estimator


def _fit_forest_in_chunks(estimator: Estimator, features: np.ndarray, target: np.ndarray, progress: Progress) -> None:
    # warm_start grows the same trees as one fit with the same random_state, in steps we can report.
    total = int(estimator.get_params()["n_estimators"])
    estimator.set_params(warm_start=True)
    step = max(1, -(-total // _FOREST_CHUNKS))
    for grown in range(step, total + step, step):
        estimator.set_params(n_estimators=min(grown, total))
        estimator.fit(features, target)
        progress(min(grown, total) / total)
    estimator.set_params(warm_start=False)
