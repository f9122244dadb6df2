"""Verification: the score ledger joined to late ground truth, per model version and frame."""

from __future__ import annotations

from typing import Any

import pandas as pd

from crispml.steps.evaluate import kpis


def verify(ledger: pd.DataFrame) -> list[dict[str, Any]]:
    """One row per (model, frame) plus an 'all' row per model.

    `ledger` has record_id, model, frame, score, threshold, scored_at and label (missing where no truth
    is known yet); a record scored more than once by the same model counts once, with its latest score.
    """
    if ledger.empty:
        return []
    joined = ledger.sort_values("scored_at", kind="stable").drop_duplicates(["model", "record_id"], keep="last")
    joined["frame"] = joined["frame"].astype("Int64")
    rows: list[dict[str, Any]] = []
    for model, per_model in joined.groupby("model", sort=True):
        groups = [(int(f), g) for f, g in per_model.groupby("frame", sort=True, dropna=True)]
        if per_model["frame"].isna().any():
            groups.append((None, per_model[per_model["frame"].isna()]))  # type: ignore[arg-type]
        groups.append(("all", per_model))  # type: ignore[arg-type]
        for frame, group in groups:
            rows.append(_summarize(str(model), frame, group))
    return rows


def _summarize(model: str, frame: Any, group: pd.DataFrame) -> dict[str, Any]:
    labelled = group[group["label"].notna()]
    row: dict[str, Any] = {
        "model": model,
        "frame": frame,
        "scored": len(group),
        "labelled": len(labelled),
        "unlabelled": len(group) - len(labelled),
    }
    if labelled.empty:
        row.update(
            {
                "positives": 0,
                "roc_auc": None,
                "pr_auc": None,
                "precision": None,
                "recall": None,
                "f1": None,
                "confusion": None,
            }
        )
        return row
    threshold = float(labelled["threshold"].iloc[-1])
    metrics = kpis(labelled["label"].astype("int64").to_numpy(), labelled["score"].to_numpy(), threshold)
    row.update({k: metrics[k] for k in ("positives", "roc_auc", "pr_auc", "precision", "recall", "f1", "confusion")})
    return row
