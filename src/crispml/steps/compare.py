"""Champion against challenger on the same labelled records: ROC AUC of each and DeLong's paired test.

DeLong, DeLong and Clarke-Pearson (1988) estimate the covariance of two ROC AUCs computed on the same
records from their structural components; the midrank form is Sun and Xu's (2014). Both AUCs come from
the same records, so their difference has a much smaller variance than two independent AUCs would.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats


def paired(ledger: pd.DataFrame, first: str, second: str) -> pd.DataFrame:
    """One row per record both models scored and that has a label: record_id, label, and the latest score
    of each model (columns `first` and `second`).

    `ledger` has record_id, model, score, scored_at and label (missing where no truth is known yet).
    """
    labelled = ledger[ledger["label"].notna()]
    latest = labelled.sort_values("scored_at", kind="stable").drop_duplicates(["model", "record_id"], keep="last")
    by_model = {m: g.set_index("record_id") for m, g in latest.groupby("model", sort=False)}
    if first not in by_model or second not in by_model:
        return pd.DataFrame({"record_id": [], "label": [], first: [], second: []})
    a, b = by_model[first], by_model[second]
    both = a.index.intersection(b.index)
    return pd.DataFrame(
        {
            "record_id": both,
            "label": a.loc[both, "label"].astype("int64").to_numpy(),
            first: a.loc[both, "score"].to_numpy(dtype=np.float64),
            second: b.loc[both, "score"].to_numpy(dtype=np.float64),
        }
    )


def delong(labels: np.ndarray, first: np.ndarray, second: np.ndarray) -> tuple[float, float, float]:
    """ROC AUC of each score and the standard error of their difference (DeLong's covariance)."""
    positive = labels == 1
    m, n = int(positive.sum()), int((~positive).sum())
    scores = np.vstack([first, second])
    ordered = np.hstack([scores[:, positive], scores[:, ~positive]])
    tx = np.vstack([stats.rankdata(row[:m]) for row in ordered])
    ty = np.vstack([stats.rankdata(row[m:]) for row in ordered])
    tz = np.vstack([stats.rankdata(row) for row in ordered])
    aucs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v01 = (tz[:, :m] - tx) / n  # per positive: the share of negatives it outranks
    v10 = 1.0 - (tz[:, m:] - ty) / m  # per negative: the share of positives that outrank it
    covariance = np.cov(v01) / m + np.cov(v10) / n
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    return float(aucs[0]), float(aucs[1]), float(np.sqrt(max(variance, 0.0)))


def compare(pairs: pd.DataFrame, first: str, second: str, level: float) -> dict[str, Any]:
    """ROC AUC of `first` and `second` on the records of `pairs` (see `paired`), their difference
    (second minus first), DeLong's two-sided p-value, the difference's confidence interval at 1 - `level`,
    and whether it is significant at `level`. AUCs and the test are None without both classes."""
    labels = pairs["label"].to_numpy(dtype=np.int64)
    positives = int(labels.sum())
    found: dict[str, Any] = {
        "first": first,
        "second": second,
        "records": len(pairs),
        "positives": positives,
        "test": "delong",
        "level": level,
        "first_roc_auc": None,
        "second_roc_auc": None,
        "difference": None,
        "std_error": None,
        "p_value": None,
        "interval": None,
        "significant": False,
    }
    if positives == 0 or positives == len(labels):
        return found
    auc_a, auc_b, std_error = delong(labels, pairs[first].to_numpy(), pairs[second].to_numpy())
    difference = auc_b - auc_a
    if std_error > 0:
        p_value = float(2 * stats.norm.sf(abs(difference) / std_error))
    else:  # identical rankings on every record: no difference at all
        p_value = 1.0 if difference == 0 else 0.0
    half = float(stats.norm.ppf(1 - level / 2) * std_error)
    found.update(
        {
            "first_roc_auc": auc_a,
            "second_roc_auc": auc_b,
            "difference": difference,
            "std_error": std_error,
            "p_value": p_value,
            "interval": [difference - half, difference + half],
            "significant": p_value < level,
        }
    )
    return found
