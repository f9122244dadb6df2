"""The algorithm registry: each entry builds an estimator with the scikit-learn contract
(`fit`, `predict_proba`, `get_params`) and declares which hyper-parameters a user may set.

Defaults are chosen for a positive rate of a fraction of a percent: LightGBM with its library defaults
diverges on such data, so it gets a little regularisation (`reg_lambda`, `max_delta_step`,
`min_child_weight`) and a slower learning rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crispml.errors import InvalidInput

Estimator = Any


@dataclass(frozen=True)
class Bound:
    """The values a hyper-parameter may take: a number in [low, high] (`integer`: whole numbers only;
    `above`: low itself excluded), one of `choices` (text or booleans), or None when `optional`.

    Bounds are the documented outer limits, checked before any estimator is built; they keep a request
    from asking for a billion trees. The estimator's own validation still runs after them."""

    low: float | None = None
    high: float | None = None
    integer: bool = False
    above: bool = False
    choices: tuple[Any, ...] = ()
    optional: bool = False

    def describe(self) -> str:
        """'an integer from 1 to 5000', 'a number above 0 up to 10', "one of 'gini', 'entropy'", ..."""
        parts = []
        if self.low is not None or self.high is not None:
            kind = "an integer" if self.integer else "a number"
            lower = f"above {self.low:g}" if self.above else f"from {self.low:g}"
            parts.append(f"{kind} {lower} {'up ' if self.above else ''}to {self.high:g}")
        if self.choices:
            parts.append("one of " + ", ".join(repr(c) for c in self.choices))
        if self.optional:
            parts.append("None")
        return " or ".join(parts)

    def admits(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if any(value is c or (type(value) is type(c) and value == c) for c in self.choices):
            return True
        if isinstance(value, bool) or not isinstance(value, int | float) or self.low is None or self.high is None:
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not math.isfinite(value):
            return False
        return (value > self.low if self.above else value >= self.low) and value <= self.high


def _int(low: float, high: float, *, optional: bool = False) -> Bound:
    return Bound(low, high, integer=True, optional=optional)


def _num(low: float, high: float, *, above: bool = False, optional: bool = False) -> Bound:
    return Bound(low, high, above=above, optional=optional)


@dataclass(frozen=True)
class Algorithm:
    name: str
    summary: str
    defaults: dict[str, Any]
    build: Callable[[dict[str, Any], float, int], Estimator]
    settable: frozenset[str]
    bounds: Mapping[str, Bound] = field(default_factory=dict)
    """Each settable parameter's documented values (`describe_params` lists them)."""


def _rf(params: dict[str, Any], weight: float, seed: int) -> Estimator:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(class_weight={0: 1.0, 1: weight}, random_state=seed, **params)


def _hgb(params: dict[str, Any], weight: float, seed: int) -> Estimator:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(class_weight={0: 1.0, 1: weight}, random_state=seed, **params)


def _logreg(params: dict[str, Any], weight: float, seed: int) -> Estimator:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(class_weight={0: 1.0, 1: weight}, random_state=seed, **params)


def _lgbm(params: dict[str, Any], weight: float, seed: int) -> Estimator:
    from lightgbm import LGBMClassifier

    return LGBMClassifier(class_weight={0: 1.0, 1: weight}, random_state=seed, verbose=-1, **params)


_TREE_PARAMS = frozenset(
    {
        "n_estimators",
        "criterion",
        "max_depth",
        "min_samples_split",
        "min_samples_leaf",
        "max_features",
        "max_leaf_nodes",
        "min_impurity_decrease",
        "bootstrap",
        "max_samples",
        "n_jobs",
        "ccp_alpha",
    }
)
_HGB_PARAMS = frozenset(
    {
        "learning_rate",
        "max_iter",
        "max_leaf_nodes",
        "max_depth",
        "min_samples_leaf",
        "l2_regularization",
        "max_features",
        "max_bins",
        "early_stopping",
        "validation_fraction",
        "n_iter_no_change",
        "tol",
    }
)
_LOGREG_PARAMS = frozenset({"C", "l1_ratio", "tol", "max_iter", "solver", "fit_intercept"})
_LGBM_PARAMS = frozenset(
    {
        "n_estimators",
        "learning_rate",
        "num_leaves",
        "max_depth",
        "min_child_samples",
        "min_child_weight",
        "min_split_gain",
        "subsample",
        "subsample_freq",
        "colsample_bytree",
        "reg_alpha",
        "reg_lambda",
        "max_delta_step",
        "max_bin",
        "n_jobs",
    }
)

_JOBS = _int(-1, 64)
_TREE_BOUNDS = {
    "n_estimators": _int(1, 5000),
    "criterion": Bound(choices=("gini", "entropy", "log_loss")),
    "max_depth": _int(1, 1000, optional=True),
    "min_samples_split": _num(0, 1_000_000, above=True),
    "min_samples_leaf": _num(0, 1_000_000, above=True),
    "max_features": Bound(0, 1_000_000, above=True, choices=("sqrt", "log2"), optional=True),
    "max_leaf_nodes": _int(2, 1_000_000, optional=True),
    "min_impurity_decrease": _num(0, 1_000_000),
    "bootstrap": Bound(choices=(True, False)),
    "max_samples": _num(0, 1_000_000_000, above=True, optional=True),
    "n_jobs": _JOBS,
    "ccp_alpha": _num(0, 1_000_000),
}
_HGB_BOUNDS = {
    "learning_rate": _num(0, 10, above=True),
    "max_iter": _int(1, 10_000),
    "max_leaf_nodes": _int(2, 100_000, optional=True),
    "max_depth": _int(1, 1000, optional=True),
    "min_samples_leaf": _int(1, 1_000_000),
    "l2_regularization": _num(0, 1_000_000),
    "max_features": _num(0, 1, above=True),
    "max_bins": _int(2, 255),
    "early_stopping": Bound(choices=("auto", True, False)),
    "validation_fraction": _num(0, 1, above=True, optional=True),
    "n_iter_no_change": _int(1, 10_000),
    "tol": _num(0, 1),
}
_LOGREG_BOUNDS = {
    "C": _num(0, 1_000_000, above=True),
    "l1_ratio": _num(0, 1, optional=True),
    "tol": _num(0, 1, above=True),
    "max_iter": _int(1, 100_000),
    "solver": Bound(choices=("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")),
    "fit_intercept": Bound(choices=(True, False)),
}
_LGBM_BOUNDS = {
    "n_estimators": _int(1, 10_000),
    "learning_rate": _num(0, 10, above=True),
    "num_leaves": _int(2, 131_072),
    "max_depth": _int(-1, 1000),  # -1: no limit
    "min_child_samples": _int(0, 1_000_000),
    "min_child_weight": _num(0, 1_000_000),
    "min_split_gain": _num(0, 1_000_000),
    "subsample": _num(0, 1, above=True),
    "subsample_freq": _int(0, 10_000),
    "colsample_bytree": _num(0, 1, above=True),
    "reg_alpha": _num(0, 1_000_000),
    "reg_lambda": _num(0, 1_000_000),
    "max_delta_step": _num(0, 1_000_000),
    "max_bin": _int(2, 100_000),
    "n_jobs": _JOBS,
}

ALGORITHMS: dict[str, Algorithm] = {
    a.name: a
    for a in (
        Algorithm(
            "rf", "random forest (scikit-learn)", {"n_estimators": 100, "n_jobs": -1}, _rf, _TREE_PARAMS, _TREE_BOUNDS
        ),
        Algorithm(
            "hgb",
            "histogram gradient boosting (scikit-learn)",
            {"max_iter": 200, "learning_rate": 0.1, "l2_regularization": 1.0},
            _hgb,
            _HGB_PARAMS,
            _HGB_BOUNDS,
        ),
        Algorithm(
            "lgbm",
            "LightGBM gradient boosting",
            {
                "n_estimators": 300,
                "learning_rate": 0.05,
                "num_leaves": 31,
                "min_child_samples": 20,
                "min_child_weight": 1.0,
                "reg_lambda": 5.0,
                "max_delta_step": 1.0,
                "subsample": 0.8,
                "subsample_freq": 1,
                "colsample_bytree": 0.8,
                "n_jobs": 2,
            },
            _lgbm,
            _LGBM_PARAMS,
            _LGBM_BOUNDS,
        ),
        Algorithm(
            "logreg",
            "logistic regression (scikit-learn)",
            {"C": 1.0, "max_iter": 1000},
            _logreg,
            _LOGREG_PARAMS,
            _LOGREG_BOUNDS,
        ),
    )
}


def get_algorithm(name: str) -> Algorithm:
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise InvalidInput(
            f"unknown algorithm {name!r}; choose one of {', '.join(ALGORITHMS)}", field="algorithm"
        ) from None


def params_doc() -> str:
    """Markdown listing every algorithm's settable hyper-parameters and their bounds (for the OpenAPI)."""
    lines = ["Hyper-parameters (`params`) a request may set, and their bounds; any other value is refused (422):"]
    for algorithm in ALGORITHMS.values():
        lines.append(f"\n**{algorithm.name}** ({algorithm.summary}):")
        lines += [
            f"- `{key}`: {algorithm.bounds[key].describe() if key in algorithm.bounds else 'as the estimator allows'}"
            for key in sorted(algorithm.settable)
        ]
    return "\n".join(lines)


def parse_param_value(text: str) -> Any:
    """'100' -> 100, '0.5' -> 0.5, 'true' -> True, 'none' -> None, anything else stays text."""
    lowered = text.strip().lower()
    if lowered in {"true", "false"}:
        return lowered == "true"
    if lowered in {"none", "null"}:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def resolve_params(algorithm: Algorithm, overrides: dict[str, Any], weight: float, seed: int) -> dict[str, Any]:
    """Defaults merged with overrides, validated by building the estimator; raises before any work."""
    if weight <= 0 or not np.isfinite(weight):
        raise InvalidInput(f"class weight {weight} must be a positive number", field="weight")
    unknown = sorted(set(overrides) - algorithm.settable)
    if unknown:
        raise InvalidInput(
            f"unknown parameter {unknown[0]!r} for {algorithm.name}; settable: {', '.join(sorted(algorithm.settable))}",
            field=unknown[0],
        )
    for key, value in overrides.items():
        bound = algorithm.bounds.get(key)
        if bound is not None and not bound.admits(value):
            raise InvalidInput(
                f"parameter {key} of {algorithm.name} must be {bound.describe()}; got {value!r}", field=key
            )
    params = {**algorithm.defaults, **overrides}
    estimator = algorithm.build(params, weight, seed)
    _validate(algorithm.name, estimator, params)
    return params


def _validate(name: str, estimator: Estimator, params: dict[str, Any]) -> None:
    validate = getattr(estimator, "_validate_params", None)
    if callable(validate) and hasattr(estimator, "_parameter_constraints"):
        try:
            validate()
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"invalid parameter for {name}: {exc}", field="params") from exc
        return
    # LightGBM validates late, inside fit; check the obvious ranges here so bad input fails fast.
    positive = {
        "n_estimators",
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "max_bin",
        "subsample",
        "colsample_bytree",
        "subsample_freq",
    }
    for key, value in params.items():
        if key == "n_jobs" or key == "max_depth":
            if not isinstance(value, int):
                raise InvalidInput(f"parameter {key} of {name} must be an integer, got {value!r}", field=key)
            continue
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidInput(f"parameter {key} of {name} must be a number, got {value!r}", field=key)
        if (key in positive and value <= 0) or value < 0:
            raise InvalidInput(f"parameter {key} of {name} must be positive, got {value!r}", field=key)
        if key == "num_leaves" and value < 2:
            raise InvalidInput(f"parameter num_leaves of {name} must be at least 2, got {value!r}", field=key)
        if key in {"subsample", "colsample_bytree"} and value > 1:
            raise InvalidInput(f"parameter {key} of {name} must be at most 1, got {value!r}", field=key)


class BoosterModel:
    """A LightGBM booster behind the predict_proba contract, as loaded from LightGBM's text format."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    @property
    def n_features_in_(self) -> int:
        return int(self.booster.num_feature())

    def predict_proba(self, features: Any) -> np.ndarray:
        positive = np.asarray(self.booster.predict(np.asarray(features, dtype=np.float64)), dtype=np.float64)
        return np.column_stack([1.0 - positive, positive])

    @property
    def feature_importances_(self) -> np.ndarray:
        gain = np.asarray(self.booster.feature_importance(importance_type="gain"), dtype=np.float64)
        total = gain.sum()
        return gain / total if total > 0 else gain
