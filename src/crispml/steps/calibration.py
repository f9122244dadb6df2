"""Calibration of a model's scores into probabilities, fitted on rows the model was not trained on.

A model trained with class weights (the reference weighs frauds 10:1) or a forest of few trees gives
scores that rank well but are not probabilities: a score of 0.3 is not a 30 % chance of fraud. The
label-free estimate (`crispml.steps.cbpe`) needs probabilities, so training fits a monotone map from
score to probability on its holdout and stores it as plain numbers (JSON), never as a pickled object:

- `identity`: the scores already are calibrated (Spiegelhalter's test does not reject at 5 %);
- `platt`: p = 1 / (1 + exp(-(a * score + b))), when the holdout has few positives;
- `isotonic`: a non-decreasing step function (its breakpoints), when it has enough of both classes;
  each step's value is Laplace-smoothed, so no step claims certainty.

Each calibration also keeps `REPLICATES` refits on bootstrap resamples of the holdout, so that an
estimate's interval covers the uncertainty of the map itself and not only the luck of the outcomes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from crispml.errors import IntegrityFailure

METHODS = ("identity", "platt", "isotonic")
ISOTONIC_MIN_CLASS = 100
"""Isotonic regression is used when the holdout has at least this many rows of each class."""
SPIEGELHALTER_ALPHA = 0.05
REPLICATES = 50
_MIN_CLASS = 5
"""Fewer holdout rows of either class than this: no calibration is fitted."""


@dataclass(frozen=True)
class Calibration:
    """A fitted score -> probability map, its bootstrap replicates, and what it was fitted on."""

    method: str
    params: dict[str, list[float]]
    replicates: tuple[dict[str, list[float]], ...]
    evidence: dict[str, Any]
    """Holdout rows and positives, Spiegelhalter's p of the raw scores, Brier scores before and after."""

    def apply(self, score: np.ndarray, replicate: int | None = None) -> np.ndarray:
        """Probabilities for `score` by the map (or by bootstrap `replicate` i, i mod their count)."""
        params = (
            self.params
            if replicate is None or not self.replicates
            else self.replicates[replicate % len(self.replicates)]
        )
        return _apply(self.method, params, np.asarray(score, dtype=np.float64))

    def body(self) -> dict[str, Any]:
        """What the hash covers: the method and every number the map is made of."""
        return {"method": self.method, "params": self.params, "replicates": list(self.replicates)}

    @property
    def sha256(self) -> str:
        return hashlib.sha256(_canonical(self.body())).hexdigest()

    def to_json(self) -> dict[str, Any]:
        """The stored form: the body, its sha256 and the evidence."""
        return {**self.body(), "sha256": self.sha256, "evidence": self.evidence}

    @classmethod
    def from_json(cls, data: dict[str, Any], expected_sha256: str | None = None) -> Calibration:
        """The calibration stored by `to_json`, after checking it still hashes to its sha256 (and to
        `expected_sha256`, the one its model's creating audit event recorded, when given)."""
        method = data.get("method")
        if method not in METHODS:
            raise IntegrityFailure(f"stored calibration has unknown method {method!r}")
        calibration = cls(
            method=str(method),
            params={k: [float(v) for v in vs] for k, vs in dict(data.get("params", {})).items()},
            replicates=tuple(
                {k: [float(v) for v in vs] for k, vs in dict(r).items()} for r in data.get("replicates", [])
            ),
            evidence=dict(data.get("evidence", {})),
        )
        actual = calibration.sha256
        if actual != data.get("sha256") or (expected_sha256 is not None and actual != expected_sha256):
            raise IntegrityFailure(f"stored calibration was modified: its sha256 is now {actual}; refusing to use it")
        return calibration


def fit_calibration(score: np.ndarray, target: np.ndarray, seed: int) -> Calibration | None:
    """The calibration of `score` against `target` (holdout rows), or None when the holdout has fewer
    than a handful of rows of either class (nothing to calibrate on)."""
    score = np.asarray(score, dtype=np.float64)
    target = np.asarray(target, dtype=np.int64)
    positives = int(target.sum())
    negatives = int(target.size - positives)
    if min(positives, negatives) < _MIN_CLASS:
        return None
    spiegelhalter_p = spiegelhalter(score, target)
    if spiegelhalter_p >= SPIEGELHALTER_ALPHA:
        method = "identity"
    elif min(positives, negatives) >= ISOTONIC_MIN_CLASS:
        method = "isotonic"
    else:
        method = "platt"
    params = _fit(method, score, target)
    rng = np.random.default_rng(seed)
    replicates: list[dict[str, list[float]]] = []
    if method != "identity":
        for _ in range(REPLICATES):
            rows = rng.integers(0, score.size, score.size)
            if np.unique(target[rows]).size == 2:
                replicates.append(_fit(method, score[rows], target[rows]))
    calibrated = _apply(method, params, score)
    evidence = {
        "holdout_rows": int(score.size),
        "holdout_positives": positives,
        "spiegelhalter_p": round(spiegelhalter_p, 6),
        "brier_raw": round(float(np.mean((score - target) ** 2)), 8),
        "brier_calibrated": round(float(np.mean((calibrated - target) ** 2)), 8),
    }
    return Calibration(method, params, tuple(replicates), evidence)


def spiegelhalter(probability: np.ndarray, target: np.ndarray) -> float:
    """Two-sided p-value of Spiegelhalter's z test that `probability` is calibrated for `target`."""
    from scipy.stats import norm

    p = np.clip(np.asarray(probability, dtype=np.float64), 0.0, 1.0)
    spread = float(np.sum((1 - 2 * p) ** 2 * p * (1 - p)))
    if spread <= 0:
        # Scores of only 0 and 1: calibrated only if they are never wrong.
        return 1.0 if np.array_equal(p, target) else 0.0
    z = float(np.sum((target - p) * (1 - 2 * p))) / np.sqrt(spread)
    return float(2 * norm.sf(abs(z)))


def _fit(method: str, score: np.ndarray, target: np.ndarray) -> dict[str, list[float]]:
    if method == "identity":
        return {}
    if method == "platt":
        from sklearn.linear_model import LogisticRegression

        # Nearly unpenalised: Platt's fit is a maximum-likelihood sigmoid of the score. Rows of one score and
        # class are one weighted row (the same likelihood): a small forest's few distinct scores make a
        # bootstrap refit of the sigmoid thousands of times cheaper.
        pairs, counts = np.unique(np.column_stack([score, target]), axis=0, return_counts=True)
        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(
            pairs[:, :1], pairs[:, 1].astype(np.int64), sample_weight=counts
        )
        return {"a": [float(fitted.coef_[0, 0])], "b": [float(fitted.intercept_[0])]}
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, target)
    # Each step's value is its rows' fraud share; with Laplace's rule ((frauds + 1) / (rows + 2)) a step
    # of 30 frauds and no other row says 0.97, not a certainty that one ordinary record would refute.
    levels, counts = np.unique(iso.predict(score), return_counts=True)
    rows = dict(zip(levels.tolist(), counts.tolist(), strict=True))
    smoothed = [(y * rows.get(y, 0) + 1) / (rows.get(y, 0) + 2) for y in iso.y_thresholds_.tolist()]
    return {"x": [float(v) for v in iso.X_thresholds_], "y": [float(v) for v in smoothed]}


def _apply(method: str, params: dict[str, list[float]], score: np.ndarray) -> np.ndarray:
    if method == "identity":
        return np.clip(score, 0.0, 1.0)
    if method == "platt":
        from scipy.special import expit

        return np.asarray(expit(params["a"][0] * score + params["b"][0]), dtype=np.float64)
    # np.interp clips outside the breakpoints, as IsotonicRegression(out_of_bounds="clip") predicts.
    return np.interp(score, params["x"], params["y"])


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


SUFFIX = ".calibration.json"
"""A calibration's file in the artifact store: `<sha256>.calibration.json`, its canonical JSON body."""


def holdout_calibration(model: Any, x: np.ndarray, y: np.ndarray, rows: np.ndarray, seed: int) -> Calibration | None:
    """The calibration of `model`'s scores on `rows` (rows it was not trained on), None without any."""
    if not rows.any():
        return None
    return fit_calibration(model.predict_proba(x[rows])[:, 1], y[rows], seed)


def file_bytes(calibration: Calibration) -> bytes:
    """The stored file: the canonical JSON of the body, so that its sha256 is `calibration.sha256`."""
    return _canonical(calibration.body())


def read_file(data: bytes, summary: dict[str, Any]) -> Calibration:
    """The calibration a model's `summary` (its metrics' `calibration`) names, from its checked file."""
    return Calibration.from_json(
        {**json.loads(data), "sha256": summary["sha256"], "evidence": summary.get("evidence", {})}
    )


def summary(calibration: Calibration | None) -> dict[str, Any]:
    """What a model version's metrics record of its calibration: method, sha256 of its file, evidence
    (method 'none' when the holdout could not calibrate anything)."""
    if calibration is None:
        return {"method": "none", "sha256": None, "evidence": {}}
    return {"method": calibration.method, "sha256": calibration.sha256, "evidence": calibration.evidence}
