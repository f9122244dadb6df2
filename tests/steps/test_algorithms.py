"""The algorithm registry: names, parameter checks before any work, class weights, and a fit per algorithm."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from crispml.errors import InvalidInput
from crispml.steps.algorithms import ALGORITHMS, Algorithm, get_algorithm, parse_param_value, resolve_params
from crispml.steps.evaluate import feature_importance
from crispml.steps.train import fit

# Small and single-threaded: the machine is shared, and a few trees separate the toy data below.
FAST = {
    "rf": {"n_estimators": 12, "n_jobs": 1},
    "hgb": {"max_iter": 20},
    "lgbm": {"n_estimators": 20, "n_jobs": 1, "min_child_samples": 5},
    "logreg": {},
}


def toy_data(rows: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three features; the positives (about 10%) sit apart on the first one."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.1).astype(np.int64)
    y[:2] = 1  # both classes whatever the seed
    x = rng.normal(size=(rows, 3))
    x[:, 0] += 3.0 * y
    return x, y


def test_registry_holds_the_documented_algorithms() -> None:
    assert set(ALGORITHMS) == {"rf", "hgb", "lgbm", "logreg"}
    for name, algorithm in ALGORITHMS.items():
        assert get_algorithm(name) is algorithm
        assert algorithm.name == name
        assert set(algorithm.defaults) <= algorithm.settable, f"{name} has a default no user could set"


def test_unknown_algorithm_is_refused_with_the_choices() -> None:
    with pytest.raises(InvalidInput, match=r"unknown algorithm 'xgb'; choose one of rf, hgb, lgbm, logreg") as err:
        get_algorithm("xgb")
    assert err.value.field == "algorithm"


def test_defaults_merge_with_overrides_without_changing_the_defaults() -> None:
    rf = get_algorithm("rf")
    before = dict(rf.defaults)
    params = resolve_params(rf, {"n_estimators": 5, "max_depth": 3}, 1.0, 0)
    assert params == {"n_estimators": 5, "n_jobs": -1, "max_depth": 3}
    assert rf.defaults == before


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_unknown_parameter_is_refused_by_name(name: str) -> None:
    with pytest.raises(InvalidInput, match=rf"unknown parameter 'bogus' for {name}; settable: ") as err:
        resolve_params(get_algorithm(name), {"bogus": 1}, 1.0, 0)
    assert err.value.field == "bogus"


def test_unknown_parameter_is_refused_before_any_estimator_is_built() -> None:
    built: list[dict[str, Any]] = []

    def build(params: dict[str, Any], weight: float, seed: int) -> Any:
        built.append(params)
        raise AssertionError("the estimator must not be built for a refused request")

    algorithm = Algorithm("probe", "records builds", {}, build, frozenset({"depth"}))
    with pytest.raises(InvalidInput, match="unknown parameter 'width'"):
        resolve_params(algorithm, {"width": 2}, 1.0, 0)
    with pytest.raises(InvalidInput, match="class weight"):
        resolve_params(algorithm, {}, 0.0, 0)
    assert built == []


@pytest.mark.parametrize(
    ("name", "overrides", "field"),
    [
        ("rf", {"n_estimators": 0}, "n_estimators"),
        ("rf", {"criterion": "nonsense"}, "criterion"),
        ("hgb", {"learning_rate": -0.1}, "learning_rate"),
        ("logreg", {"C": -1.0}, "C"),
        ("lgbm", {"num_leaves": 1}, "num_leaves"),
        ("lgbm", {"learning_rate": 0}, "learning_rate"),
        ("lgbm", {"subsample": 1.5}, "subsample"),
        ("lgbm", {"reg_lambda": -1.0}, "reg_lambda"),
        ("lgbm", {"n_jobs": "two"}, "n_jobs"),
        ("lgbm", {"max_depth": 2.5}, "max_depth"),
        ("lgbm", {"n_estimators": True}, "n_estimators"),
        ("lgbm", {"colsample_bytree": "all"}, "colsample_bytree"),
    ],
)
def test_invalid_parameter_values_are_refused_up_front(name: str, overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput, match=name) as err:
        resolve_params(get_algorithm(name), overrides, 1.0, 0)
    assert err.value.field == field


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")])
def test_class_weight_must_be_a_positive_number(weight: float) -> None:
    with pytest.raises(InvalidInput, match="must be a positive number") as err:
        resolve_params(get_algorithm("rf"), {}, weight, 0)
    assert err.value.field == "weight"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100", 100),
        (" 7 ", 7),
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("true", True),
        ("False", False),
        ("none", None),
        ("NULL", None),
        ("gini", "gini"),
        ("sqrt", "sqrt"),
    ],
)
def test_parse_param_value(text: str, value: Any) -> None:
    parsed = parse_param_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_class_weight_reaches_the_estimator(name: str) -> None:
    algorithm = get_algorithm(name)
    estimator = algorithm.build(resolve_params(algorithm, FAST[name], 10.0, 0), 10.0, 0)
    assert estimator.get_params()["class_weight"] == {0: 1.0, 1: 10.0}


def test_a_heavier_positive_weight_raises_the_scores() -> None:
    x, y = toy_data()
    logreg = get_algorithm("logreg")
    light = fit(logreg, resolve_params(logreg, {}, 1.0, 0), 1.0, 0, x, y)
    heavy = fit(logreg, resolve_params(logreg, {}, 20.0, 0), 20.0, 0, x, y)
    light_scores, heavy_scores = light.predict_proba(x)[:, 1], heavy.predict_proba(x)[:, 1]
    assert heavy_scores.mean() > light_scores.mean() + 0.05
    assert (heavy_scores >= 0.5).sum() > (light_scores >= 0.5).sum()


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_every_algorithm_fits_and_predicts_probabilities(name: str) -> None:
    x, y = toy_data()
    algorithm = get_algorithm(name)
    params = resolve_params(algorithm, FAST[name], 5.0, 7)
    model = fit(algorithm, params, 5.0, 7, x, y)
    proba = model.predict_proba(x)
    assert proba.shape == (len(x), 2)
    assert ((proba >= 0) & (proba <= 1)).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert roc_auc_score(y, proba[:, 1]) > 0.9  # learned the planted signal
    assert next(iter(feature_importance(model, ["signal", "noise", "more noise"], x, y, seed=0))) == "signal"
    again = fit(algorithm, params, 5.0, 7, x, y)
    np.testing.assert_array_equal(again.predict_proba(x), proba)  # same seed, same model


def test_forest_reports_progress_up_to_done_and_keeps_its_size() -> None:
    x, y = toy_data()
    rf = get_algorithm("rf")
    seen: list[float] = []
    params = resolve_params(rf, {"n_estimators": 25, "n_jobs": 1}, 1.0, 0)
    model = fit(rf, params, 1.0, 0, x, y, seen.append)
    assert seen[-1] == 1.0
    assert seen == sorted(seen) and len(seen) > 1
    assert len(model.estimators_) == 25
    whole = fit(rf, params, 1.0, 0, x, y)  # grown in steps or at once: the same trees
    np.testing.assert_array_equal(whole.predict_proba(x), model.predict_proba(x))


def test_training_on_one_class_is_refused() -> None:
    x, _ = toy_data()
    rf = get_algorithm("rf")
    with pytest.raises(InvalidInput, match=r"only class \[0\]") as err:
        fit(rf, resolve_params(rf, FAST["rf"], 1.0, 0), 1.0, 0, x, np.zeros(len(x), dtype=np.int64))
    assert err.value.field == "frames"


def test_a_combination_the_library_refuses_at_fit_is_invalid_input() -> None:
    # Each value passes alone; scikit-learn only rejects the pair when fitting.
    x, y = toy_data()
    logreg = get_algorithm("logreg")
    params = resolve_params(logreg, {"solver": "lbfgs", "l1_ratio": 1.0}, 1.0, 0)
    with pytest.raises(InvalidInput, match="logreg cannot train with these parameters"):
        fit(logreg, params, 1.0, 0, x, y)
