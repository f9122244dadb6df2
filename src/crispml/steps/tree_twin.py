"""ONNX twins of gradient-boosted trees (scikit-learn's HistGradientBoosting, LightGBM), exact in float64.

skl2onnx's converter for HistGradientBoostingClassifier, like onnxmltools' for LightGBM, stores split
thresholds as float32, so rows near a split land on the other side and the twin misses `TOLERANCE`.
Both libraries decide `x <= threshold` in float64 and add leaf values in float64; ONNX's
`ai.onnx.ml.TreeEnsemble` (opset 5) does the same with double thresholds and leaves, so the twin built
here walks the very same trees. Only what a crispml model can hold is expressed: numerical splits on
finite inputs (NaN and infinities are rescored exactly by `fast_path.Scorer`); anything else (categorical
splits, LightGBM's zero-as-missing or random-forest mode) is refused with `Unsupported`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

_OPSET = {"": 17, "ai.onnx.ml": 5}
_BRANCH_LEQ = 0

Children = Callable[[Any], tuple[int, float, Any, Any] | None]


class Unsupported(Exception):
    """This estimator holds something the float64 tree twin does not express."""


@dataclass
class _Ensemble:
    """Interior nodes and leaves of every tree, flattened as TreeEnsemble wants them."""

    n_features: int
    features: list[int] = field(default_factory=list)
    splits: list[float] = field(default_factory=list)
    true_ids: list[int] = field(default_factory=list)
    true_leafs: list[int] = field(default_factory=list)
    false_ids: list[int] = field(default_factory=list)
    false_leafs: list[int] = field(default_factory=list)
    leaves: list[float] = field(default_factory=list)
    roots: list[int] = field(default_factory=list)

    def add_tree(self, root: Any, children: Children, value: Callable[[Any], float]) -> None:
        """Add one tree: `children(node)` is None for a leaf (whose value is `value(node)`), else
        (feature, threshold, left, right), left taken when the feature is <= threshold."""
        if children(root) is None:  # a tree that never split: a node whose branches both reach its one leaf
            leaf = self._leaf(value(root))
            self.roots.append(self._node(0, 0.0, (leaf, 1), (leaf, 1)))
            return
        self.roots.append(self._subtree(root, children, value))

    def _subtree(self, node: Any, children: Children, value: Callable[[Any], float]) -> int:
        split = children(node)
        assert split is not None
        feature, threshold, left, right = split
        index = self._node(feature, threshold, (0, 0), (0, 0))
        for branch, ids, leafs in ((left, self.true_ids, self.true_leafs), (right, self.false_ids, self.false_leafs)):
            if children(branch) is None:
                ids[index], leafs[index] = self._leaf(value(branch)), 1
            else:
                ids[index], leafs[index] = self._subtree(branch, children, value), 0
        return index

    def _node(self, feature: int, threshold: float, true: tuple[int, int], false: tuple[int, int]) -> int:
        self.features.append(int(feature))
        self.splits.append(float(threshold))
        self.true_ids.append(true[0])
        self.true_leafs.append(true[1])
        self.false_ids.append(false[0])
        self.false_leafs.append(false[1])
        return len(self.features) - 1

    def _leaf(self, value: float) -> int:
        self.leaves.append(value)
        return len(self.leaves) - 1

    def split_points(self) -> list[np.ndarray]:
        splits, features = np.asarray(self.splits), np.asarray(self.features)
        return [np.unique(splits[features == f]) for f in range(self.n_features)]

    def to_onnx(self, offset: float, scale: float, zero_within: float | None) -> bytes:
        """P(class 0), P(class 1) = 1 - p, p with p = sigmoid(scale * (offset + sum of leaves)); inputs
        within `zero_within` of 0 count as 0, when given."""
        from onnx import TensorProto, helper, numpy_helper

        constants = [
            numpy_helper.from_array(np.array([[offset]]), "offset"),
            numpy_helper.from_array(np.array([[scale]]), "scale"),
            numpy_helper.from_array(np.array([[1.0]]), "one"),
        ]
        nodes = []
        if zero_within is not None:
            constants += [numpy_helper.from_array(np.array(zero_within), "zero_within")]
            constants += [numpy_helper.from_array(np.array(0.0), "zero")]
            nodes += [
                helper.make_node("Abs", ["features"], ["magnitude"]),
                helper.make_node("LessOrEqual", ["magnitude", "zero_within"], ["is_zero"]),
                helper.make_node("Where", ["is_zero", "zero", "features"], ["inputs"]),
            ]
        ensemble = helper.make_node(
            "TreeEnsemble",
            ["inputs" if zero_within is not None else "features"],
            ["raw"],
            domain="ai.onnx.ml",
            aggregate_function=1,  # SUM
            post_transform=0,  # NONE
            n_targets=1,
            tree_roots=self.roots,
            nodes_featureids=self.features,
            nodes_modes=numpy_helper.from_array(np.full(len(self.features), _BRANCH_LEQ, dtype=np.uint8)),
            nodes_splits=numpy_helper.from_array(np.asarray(self.splits, dtype=np.float64)),
            nodes_truenodeids=self.true_ids,
            nodes_trueleafs=self.true_leafs,
            nodes_falsenodeids=self.false_ids,
            nodes_falseleafs=self.false_leafs,
            leaf_targetids=[0] * len(self.leaves),
            leaf_weights=numpy_helper.from_array(np.asarray(self.leaves, dtype=np.float64)),
        )
        nodes += [
            ensemble,
            helper.make_node("Add", ["raw", "offset"], ["shifted"]),
            helper.make_node("Mul", ["shifted", "scale"], ["scaled"]),
            helper.make_node("Sigmoid", ["scaled"], ["positive"]),
            helper.make_node("Sub", ["one", "positive"], ["negative"]),
            helper.make_node("Concat", ["negative", "positive"], ["probabilities"], axis=1),
        ]
        graph = helper.make_graph(
            nodes,
            "crispml-trees",
            [helper.make_tensor_value_info("features", TensorProto.DOUBLE, [None, self.n_features])],
            [helper.make_tensor_value_info("probabilities", TensorProto.DOUBLE, [None, 2])],
            constants,
        )
        opsets = [helper.make_opsetid(domain, version) for domain, version in _OPSET.items()]
        return bytes(helper.make_model(graph, opset_imports=opsets).SerializeToString())


def supports(estimator: Any) -> bool:
    """Whether this module builds the twin of `estimator` (it may still refuse one with `Unsupported`)."""
    return _booster(estimator) is not None or type(estimator).__name__ == "HistGradientBoostingClassifier"


def compile_trees(estimator: Any) -> bytes:
    """The ONNX twin of a fitted HistGradientBoostingClassifier or LightGBM booster; raises Unsupported."""
    ensemble, offset, scale = _ensemble(estimator)
    # LightGBM reads any |x| <= kZeroThreshold (1e-35 as float32) of a dense row as 0.
    zero_within = float(np.float32(1e-35)) if _booster(estimator) is not None else None
    return ensemble.to_onnx(offset, scale, zero_within)


def split_points(estimator: Any) -> list[np.ndarray]:
    """Each feature's split thresholds, for the probe rows that prove a twin; raises Unsupported."""
    return _ensemble(estimator)[0].split_points()


def _ensemble(estimator: Any) -> tuple[_Ensemble, float, float]:
    booster = _booster(estimator)
    try:
        return _lightgbm(booster) if booster is not None else _hist_gradient_boosting(estimator)
    except RecursionError:  # trees walked (and dumped, by LightGBM) recursively: a few thousand levels
        raise Unsupported("its trees are too deep to compile") from None


def _booster(estimator: Any) -> Any:
    booster = getattr(estimator, "booster", None)
    return booster if type(booster).__name__ == "Booster" else None


def _hist_gradient_boosting(estimator: Any) -> tuple[_Ensemble, float, float]:
    if getattr(estimator, "n_trees_per_iteration_", None) != 1 or type(estimator._loss).__name__ != "HalfBinomialLoss":
        raise Unsupported("only binary HistGradientBoostingClassifier models are compiled")
    if getattr(estimator, "is_categorical_", None) is not None and np.any(estimator.is_categorical_):
        raise Unsupported("categorical features are not compiled")
    ensemble = _Ensemble(int(estimator.n_features_in_))
    for (predictor,) in estimator._predictors:
        ensemble.add_tree(0, partial(_hgb_children, predictor.nodes), partial(_hgb_value, predictor.nodes))
    return ensemble, float(np.ravel(estimator._baseline_prediction)[0]), 1.0


def _hgb_children(nodes: np.ndarray, i: int) -> tuple[int, float, int, int] | None:
    node = nodes[i]
    if node["is_leaf"]:
        return None
    if node["is_categorical"]:
        raise Unsupported("categorical splits are not compiled")
    return int(node["feature_idx"]), float(node["num_threshold"]), int(node["left"]), int(node["right"])


def _hgb_value(nodes: np.ndarray, i: int) -> float:
    return float(nodes[i]["value"])


def _lightgbm(booster: Any) -> tuple[_Ensemble, float, float]:
    model = booster.dump_model()
    objective = re.fullmatch(r"binary sigmoid:([0-9.eE+-]+)", str(model.get("objective", "")))
    if objective is None or model.get("num_class") != 1 or model.get("average_output"):
        raise Unsupported(f"only binary LightGBM boosters are compiled, not {model.get('objective')!r}")
    ensemble = _Ensemble(int(model["max_feature_idx"]) + 1)

    for tree in model["tree_info"]:
        ensemble.add_tree(tree["tree_structure"], _lgbm_children, _lgbm_value)
    return ensemble, 0.0, float(objective.group(1))


def _lgbm_children(node: dict[str, Any]) -> tuple[int, float, dict[str, Any], dict[str, Any]] | None:
    if "leaf_value" in node:
        return None
    if node["decision_type"] != "<=" or node.get("missing_type") == "Zero":
        raise Unsupported(f"LightGBM split {node['decision_type']} ({node.get('missing_type')}) is not compiled")
    return int(node["split_feature"]), float(node["threshold"]), node["left_child"], node["right_child"]


def _lgbm_value(node: dict[str, Any]) -> float:
    return float(node["leaf_value"])
