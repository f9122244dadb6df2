"""Fast scoring: a serial copy of an estimator for small inputs, and an ONNX twin of it for any input.

joblib starts its worker threads on every `predict_proba` of an estimator with `n_jobs != 1`, which
costs more than scoring one row; a shallow copy with `n_jobs=1` shares the fitted trees and skips it.
The ONNX twin goes further: the same model compiled to ONNX (by skl2onnx for forests and logistic
regression, by `tree_twin` in float64 for HistGradientBoosting and LightGBM) and run by onnxruntime (one
thread for small inputs, every core for large ones); it is compiled once, at training time, and stored
beside the model.
A twin is only used once it reproduces the estimator within `TOLERANCE` on probe rows built around the
model's own split thresholds, and rows it scores within `TOLERANCE` of the decision threshold are
rescored exactly, so the twin's float rounding cannot flip a decision.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from crispml.steps import tree_twin
from crispml.steps.algorithms import Estimator

log = logging.getLogger("crispml.scoring")

SMALL = 2_000
"""Inputs with fewer rows than this are scored on the caller's thread (serial copy or ONNX twin)."""

TOLERANCE = 1e-6
"""The largest difference from scikit-learn's predict_proba[:, 1] an ONNX twin may show."""

_PROBE_ROWS = 512
_OUTPUT = "probabilities"
_FLOAT32_MAX = float(np.finfo(np.float32).max)


class FastPathUnavailable(Exception):
    """This model has no ONNX twin: its type cannot be converted, or the twin disagrees with it.

    Never reaches a user: the model is then scored by scikit-learn, as it always could be.
    """


class TwinDisagrees(FastPathUnavailable):
    """The compiled twin scores probe rows differently from the estimator: a converter bug to report."""


def serial_copy(estimator: Estimator) -> Estimator:
    """The estimator itself, or a shallow copy predicting on one thread when it would start workers.

    The copy shares the fitted state (the trees) with the original; only its `n_jobs` differs.
    """
    get_params = getattr(estimator, "get_params", None)
    if not callable(get_params) or get_params(deep=False).get("n_jobs", 1) in (1, None):
        return estimator
    serial = copy.copy(estimator)
    serial.set_params(n_jobs=1)
    return serial


class OnnxTwin:
    """An estimator compiled to ONNX and run by onnxruntime; safe to call from many threads.

    Small inputs run on the caller's thread only; large ones on a second session that uses every core.
    """

    def __init__(self, model: bytes, *, float32_inputs: bool) -> None:
        self.model = model
        self._float32_inputs = float32_inputs
        self._serial = _session(model, threads=1)
        self._input = self._serial.get_inputs()[0].name
        self._parallel: Any = None

    def positive(self, matrix: np.ndarray) -> np.ndarray:
        """P(class 1) for each row of a float64 feature matrix."""
        features = np.ascontiguousarray(matrix, dtype=np.float64)
        if self._float32_inputs:
            # scikit-learn's trees compare float32 inputs (widened) with float64 thresholds; so does this.
            features = features.astype(np.float32).astype(np.float64)
        session = self._serial if len(features) < SMALL else self._parallel_session()
        (proba,) = session.run([_OUTPUT], {self._input: features})
        return np.asarray(proba, dtype=np.float64)[:, 1].copy()

    def _parallel_session(self) -> Any:
        if self._parallel is None:  # a race builds two sessions; one is dropped, no harm done
            self._parallel = _session(self.model, threads=0)
        return self._parallel


def _session(model: bytes, *, threads: int) -> Any:
    """An onnxruntime session on `threads` intra-op threads (0: one per core)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def compile_onnx(estimator: Estimator) -> OnnxTwin:
    """Compile a fitted estimator in memory and prove the twin agrees with it; raises FastPathUnavailable."""
    if tree_twin.supports(estimator):
        # Gradient-boosted trees get a float64 twin of their own (see `tree_twin`): the converters'
        # float32 thresholds would miss TOLERANCE next to every split.
        try:
            return load_twin(tree_twin.compile_trees(estimator), estimator)
        except tree_twin.Unsupported as exc:
            raise FastPathUnavailable(f"{type(estimator).__name__} cannot be compiled to ONNX: {exc}") from exc
    n_features = getattr(estimator, "n_features_in_", None)
    if not isinstance(n_features, int) or not hasattr(estimator, "get_params"):
        raise FastPathUnavailable(f"{type(estimator).__name__} cannot be compiled to ONNX")
    # skl2onnx reads every fitted attribute; a forest's `estimators_samples_` redraws each tree's
    # bootstrap sample when read (10 s for 100 trees on 142k rows). A copy without bootstrap skips that
    # and has the same trees.
    source = copy.copy(estimator)
    if "bootstrap" in source.get_params(deep=False):
        source.set_params(bootstrap=False)
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import DoubleTensorType

        compiled = to_onnx(
            source,
            initial_types=[("features", DoubleTensorType([None, n_features]))],
            options={id(source): {"zipmap": False}},
            target_opset={"": 17, "ai.onnx.ml": 3},
        )
    except Exception as exc:  # skl2onnx raises many kinds for models it cannot express
        raise FastPathUnavailable(f"{type(estimator).__name__} cannot be compiled to ONNX: {exc}"[:500]) from exc
    return load_twin(compiled.SerializeToString(), estimator)


def compile_or_none(estimator: Estimator, model_name: str) -> OnnxTwin | None:
    """`compile_onnx`, or None when the model keeps its own library's scoring; the reason is logged
    (as a warning when the twin disagrees or the compiler broke, since that is a bug to report)."""
    try:
        return compile_onnx(estimator)
    except TwinDisagrees as exc:
        log.warning("%s keeps its own library's scoring: %s", model_name, exc)
    except FastPathUnavailable as exc:
        log.info("%s keeps its own library's scoring: %s", model_name, exc)
    except Exception:
        log.warning("%s keeps its own library's scoring: compiling it failed", model_name, exc_info=True)
    return None


def load_twin(model: bytes, estimator: Estimator) -> OnnxTwin:
    """The twin of `estimator` from ONNX bytes, after proving it agrees with the estimator on probe rows."""
    try:
        twin = OnnxTwin(model, float32_inputs=_compares_float32(estimator))
    except Exception as exc:  # onnxruntime refuses a model it cannot run
        name = type(estimator).__name__
        raise FastPathUnavailable(f"onnxruntime cannot run the twin of {name}: {exc}"[:500]) from exc
    probe = probe_rows(estimator, int(estimator.n_features_in_))
    gap = float(np.max(np.abs(twin.positive(probe) - estimator.predict_proba(probe)[:, 1])))
    if not gap <= TOLERANCE:
        raise TwinDisagrees(f"the ONNX twin of {type(estimator).__name__} differs from it by {gap:.3g}")
    return twin


def probe_rows(estimator: Estimator, n_features: int) -> np.ndarray:
    """Rows where a twin is most likely to go wrong: every feature on, or next to, one of its split points."""
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((_PROBE_ROWS, n_features))
    splits = _split_points(estimator, n_features)
    for feature, points in enumerate(splits):
        if points.size == 0:
            continue
        chosen = rng.choice(points, size=_PROBE_ROWS)
        nudged = np.where(rng.random(_PROBE_ROWS) < 0.5, np.nextafter(chosen, np.inf), chosen)
        as_float32 = nudged.astype(np.float32).astype(np.float64)
        rows[:, feature] = np.where(rng.random(_PROBE_ROWS) < 0.5, as_float32, nudged)
    return rows


@dataclass(frozen=True)
class Scorer:
    """How one model scores one input: the exact estimator, and its ONNX twin when one is ready."""

    kind: str
    """'onnx', 'serial' or 'parallel': the path taken, for perf and for tests."""
    estimator: Estimator
    twin: OnnxTwin | None = None

    def positive(self, matrix: np.ndarray, threshold: float) -> np.ndarray:
        """P(class 1) per row; with a twin, rows within TOLERANCE of `threshold` are rescored exactly."""
        if self.twin is None or not (np.abs(matrix) <= _FLOAT32_MAX).all():
            # NaN, infinities and values beyond float32 get scikit-learn's own handling (and error).
            return self._exact(matrix)
        score = self.twin.positive(matrix)
        near = np.abs(score - threshold) <= TOLERANCE
        if near.any():
            score[near] = self._exact(matrix[near])
        return score

    def _exact(self, matrix: np.ndarray) -> np.ndarray:
        return np.asarray(self.estimator.predict_proba(matrix)[:, 1], dtype=np.float64)


def _compares_float32(estimator: Estimator) -> bool:
    from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
    from sklearn.tree import DecisionTreeClassifier

    return isinstance(estimator, RandomForestClassifier | ExtraTreesClassifier | DecisionTreeClassifier)


def _split_points(estimator: Estimator, n_features: int) -> list[np.ndarray]:
    if tree_twin.supports(estimator):
        try:
            return tree_twin.split_points(estimator)
        except tree_twin.Unsupported as exc:
            raise FastPathUnavailable(str(exc)) from exc
    trees = [e.tree_ for e in getattr(estimator, "estimators_", [])] or (
        [estimator.tree_] if hasattr(estimator, "tree_") else []
    )
    points: list[list[np.ndarray]] = [[] for _ in range(n_features)]
    for tree in trees:
        inner = tree.feature >= 0
        for feature in np.unique(tree.feature[inner]):
            points[int(feature)].append(tree.threshold[inner & (tree.feature == feature)])
    return [np.concatenate(p) if p else np.empty(0) for p in points]
