"""Confidence-based performance estimation (CBPE, as NannyML describes it): KPIs without labels.

If a record's calibrated probability of fraud is p, it is a true positive with probability p when the
model flags it and a false negative with probability p when it does not. Summed over a frame, these give
the expected confusion matrix at the model's threshold, hence the expected precision, recall and F1;
the ROC curve of the scores with every record counted p times as a fraud and 1 - p times as not gives
the expected ROC AUC.

The interval: outcomes drawn from the probabilities (seeded; each draw through one of the calibration's
bootstrap replicates, so the map's own uncertainty counts too) give the spread of the KPIs a frame of
this size would realize if the probabilities were right. A realized KPI outside it means they are not:
the relation between inputs and fraud changed (concept drift) or the calibration no longer holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from crispml.steps.calibration import Calibration

KPIS = ("roc_auc", "precision", "recall", "f1")
SAMPLES = 400
_CELLS = 4_000_000
"""Draws times rows held in memory at once."""


def estimate(
    score: np.ndarray,
    threshold: float,
    calibration: Calibration | None,
    *,
    level: float = 0.99,
    samples: int = SAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Estimated KPIs of one group of scores, each with a `level` interval, and the expected confusion.

    Without a calibration the scores are taken as probabilities (the caller says so in a warning).
    """
    score = np.asarray(score, dtype=np.float64)
    flagged = score >= threshold
    probability = calibration.apply(score) if calibration is not None else np.clip(score, 0.0, 1.0)
    tp = float(probability[flagged].sum())
    fp = float(flagged.sum()) - tp
    fn = float(probability[~flagged].sum())
    tn = float((~flagged).sum()) - fn
    precision, recall, f1 = _ratios(np.array([tp]), np.array([fp]), np.array([fn]))
    point = {
        "roc_auc": _expected_auc(score, probability),
        "precision": float(precision[0]),
        "recall": float(recall[0]),
        "f1": float(f1[0]),
    }
    drawn = _simulate(score, flagged, probability, calibration, samples, seed)
    low, high = (1 - level) / 2, 1 - (1 - level) / 2
    intervals = {}
    for kpi in KPIS:
        values = drawn[kpi][~np.isnan(drawn[kpi])]
        intervals[kpi] = [float(np.quantile(values, low)), float(np.quantile(values, high))] if values.size else None
    return {
        "rows": int(score.size),
        "expected_positives": float(probability.sum()),
        "threshold": threshold,
        **{kpi: (None if np.isnan(value) else value) for kpi, value in point.items()},
        "interval": intervals,
        "expected_confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def estimate_groups(
    ledger: pd.DataFrame,
    calibration: Calibration | None,
    *,
    level: float,
    seed: int,
    samples: int = SAMPLES,
) -> dict[Any, dict[str, Any]]:
    """`estimate` per frame (None: scored without a frame) and for 'all', of a ledger with record_id,
    frame, score, threshold and scored_at (a record scored twice counts once, with its latest score)."""
    if ledger.empty:
        return {}
    latest = ledger.sort_values("scored_at", kind="stable").drop_duplicates("record_id", keep="last")
    frames = latest["frame"].astype("Int64")
    groups: list[tuple[Any, pd.DataFrame]] = [(int(f), g) for f, g in latest.groupby(frames, sort=True, dropna=True)]
    if frames.isna().any():
        groups.append((None, latest[frames.isna().to_numpy()]))
    groups.append(("all", latest))
    found = {}
    for frame, group in groups:
        threshold = float(group["threshold"].iloc[-1])
        # One seed per group, so a frame's estimate does not depend on which other frames were asked for.
        key = frame if isinstance(frame, int) else (0 if frame is None else -1)
        found[frame] = estimate(
            group["score"].to_numpy(),
            threshold,
            calibration,
            level=level,
            samples=samples,
            seed=seed + 7919 * (key + 1),
        )
    return found


def _expected_auc(score: np.ndarray, probability: np.ndarray) -> float:
    """ROC AUC with each record a fraud with weight p and not one with weight 1 - p."""
    from sklearn.metrics import roc_auc_score

    if probability.sum() <= 0 or (1 - probability).sum() <= 0:
        return float("nan")
    both = np.concatenate([score, score])
    truth = np.concatenate([np.ones(score.size), np.zeros(score.size)])
    return float(roc_auc_score(truth, both, sample_weight=np.concatenate([probability, 1 - probability])))


def _simulate(
    score: np.ndarray,
    flagged: np.ndarray,
    probability: np.ndarray,
    calibration: Calibration | None,
    samples: int,
    seed: int,
) -> dict[str, np.ndarray]:
    """KPIs of `samples` outcome draws; NaN where a draw leaves a KPI undefined (no fraud drawn)."""
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    ranks = rankdata(score)  # mid-ranks: ties count half, as roc_auc_score counts them
    n = score.size
    replicates = len(calibration.replicates) if calibration is not None else 0
    chunk = max(1, _CELLS // max(1, n))
    out: dict[str, list[np.ndarray]] = {kpi: [] for kpi in KPIS}
    for start in range(0, samples, chunk):
        count = min(chunk, samples - start)
        if replicates:
            p = np.stack([calibration.apply(score, start + i) for i in range(count)])  # type: ignore[union-attr]
        else:
            p = np.broadcast_to(probability, (count, n))
        drawn = rng.random((count, n), dtype=np.float32) < p  # float32: half the time, ample resolution
        positives = drawn.sum(axis=1).astype(np.float64)
        tp = drawn[:, flagged].sum(axis=1).astype(np.float64)
        fp = float(flagged.sum()) - tp
        fn = positives - tp
        precision, recall, f1 = _ratios(tp, fp, fn)
        negatives = n - positives
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = (drawn @ ranks - positives * (positives + 1) / 2) / (positives * negatives)
        out["roc_auc"].append(np.where((positives > 0) & (negatives > 0), auc, np.nan))
        out["precision"].append(precision)
        out["recall"].append(recall)
        out["f1"].append(f1)
    return {kpi: np.concatenate(values) for kpi, values in out.items()}


def _ratios(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision, recall and F1 as `crispml.steps.evaluate.kpis` defines them (0 where undefined there),
    except recall, NaN where there is no fraud to recall."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        both = precision + np.nan_to_num(recall)
        f1 = np.where(both > 0, 2 * precision * np.nan_to_num(recall) / both, 0.0)
    return precision, recall, f1
