"""Model KPIs: ROC AUC, PR AUC, precision/recall/F1 and confusion at a threshold, curves, importances."""

from __future__ import annotations

from typing import Any

import numpy as np

_CURVE_POINTS = 101


def kpis(target: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, Any]:
    """The headline KPIs of scores against truth; AUCs are None when only one class is present."""
    # Here, not at import: scikit-learn takes seconds to import, and a server or the CLI starts without it.
    from sklearn.metrics import average_precision_score, confusion_matrix, roc_auc_score

    target = np.asarray(target, dtype=np.int64)
    decision = (np.asarray(score) >= threshold).astype(np.int64)
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(target, decision, labels=[0, 1]).ravel())
    both = np.unique(target).size == 2
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "rows": int(target.size),
        "positives": int(target.sum()),
        "threshold": threshold,
        "roc_auc": float(roc_auc_score(target, score)) if both else None,
        "pr_auc": float(average_precision_score(target, score)) if both else None,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def curves(target: np.ndarray, score: np.ndarray) -> dict[str, Any]:
    """ROC and precision-recall curves thinned to about a hundred points each.

    Each PR point carries the score threshold it is reached at (a score at or above it is flagged), so
    a reader can move along the trade-off: its confusion counts follow from recall, precision and the
    positives. The first point (recall 0) flags nothing: its threshold is null.
    """
    from sklearn.metrics import precision_recall_curve, roc_curve  # not at import: see `kpis`

    if np.unique(target).size < 2:
        return {"roc": [], "pr": []}
    fpr, tpr, _ = roc_curve(target, score)
    precision, recall, thresholds = precision_recall_curve(target, score)
    # precision_recall_curve ends on (recall 0, precision 1) with no threshold; reversed, it comes first.
    at = np.concatenate(([np.nan], thresholds[::-1]))
    return {
        "roc": [{"fpr": f, "tpr": t} for f, t in _thin(fpr, tpr)],
        "pr": [
            {"recall": r, "precision": p, "threshold": None if np.isnan(t) else t}
            for r, p, t in _thin(recall[::-1], precision[::-1], at)
        ],
    }


def _thin(*columns: np.ndarray) -> list[tuple[float, ...]]:
    """The points of equally long columns, thinned to about `_CURVE_POINTS` (first and last kept)."""
    size = columns[0].size
    if size > _CURVE_POINTS:
        index = np.unique(np.linspace(0, size - 1, _CURVE_POINTS).round().astype(int))
        columns = tuple(column[index] for column in columns)
    return list(zip(*(column.astype(float).tolist() for column in columns), strict=True))


def feature_importance(
    model: Any, features: list[str], x: np.ndarray, y: np.ndarray, seed: int, sample: int = 10_000
) -> dict[str, float]:
    """Importances normalised to sum 1, sorted high to low.

    Uses the model's own importances where it has them (forests, boosters), absolute coefficients for
    linear models, and permutation importance on a sample for everything else.
    """
    values: np.ndarray
    if hasattr(model, "feature_importances_"):
        values = np.asarray(model.feature_importances_, dtype=float)
    elif hasattr(model, "coef_"):
        values = np.abs(np.asarray(model.coef_, dtype=float)).ravel()
    else:
        from sklearn.inspection import permutation_importance

        rng = np.random.default_rng(seed)
        rows = rng.choice(x.shape[0], size=min(sample, x.shape[0]), replace=False)
        scoring = "roc_auc" if np.unique(y[rows]).size == 2 else "accuracy"
        result = permutation_importance(model, x[rows], y[rows], scoring=scoring, n_repeats=2, random_state=seed)
        values = np.clip(result.importances_mean, 0, None)
    total = values.sum()
    if total > 0:
        values = values / total
    ranked = sorted(zip(features, values.tolist(), strict=True), key=lambda item: -item[1])
    return {name: round(value, 6) for name, value in ranked}
