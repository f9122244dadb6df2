"""Fit an algorithm on feature and target arrays, reporting progress where the algorithm allows it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from crispml.errors import InvalidInput
from crispml.steps.algorithms import Algorithm, BoosterModel, Estimator

Progress = Callable[[float], None]
_FOREST_CHUNKS = 10
_CHUNK_S = 1.0


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
    # A step lasts about _CHUNK_S once a tree's time is known, within [a few trees per worker, a tenth of
    # the forest]: a cancel, checked at each report, takes effect within seconds even for 5,000 trees.
    total = int(estimator.get_params()["n_estimators"])
    jobs = estimator.get_params()["n_jobs"] or 1  # as joblib counts them: -1 is every CPU, -2 all but one
    workers = jobs if jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + jobs)
    most = max(1, -(-total // _FOREST_CHUNKS))
    fewest = min(most, 4 * workers)  # trees enough to keep every worker busy to the end of a step
    estimator.set_params(warm_start=True)
    grown, step = 0, fewest
    while grown < total:
        step = min(step, total - grown)
        started = time.perf_counter()
        grown += step
        estimator.set_params(n_estimators=grown)
        estimator.fit(features, target)
        progress(grown / total)
        per_tree = (time.perf_counter() - started) / step
        step = max(fewest, min(most, int(_CHUNK_S / max(per_tree, 1e-6))))
    estimator.set_params(warm_start=False)
