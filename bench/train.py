"""Benchmark 2: `cml.train` (rf, weight 10, frames 1-6) beside a bare RandomForestClassifier.fit."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

import crispml
from bench.common import curated_chain, goal, median, ratio, scratch, synthetic_csv, timed, timed_phases
from crispml.domain import FRAME

GOAL_RATIO = 1.15
TRAIN_FRAMES = range(1, 7)


def bare_fit(x: np.ndarray, y: np.ndarray) -> RandomForestClassifier:
    """The floor: the same forest crispml builds by default, fitted once on the same arrays."""
    forest = RandomForestClassifier(n_estimators=100, n_jobs=-1, class_weight={0: 1, 1: 10}, random_state=42)
    return forest.fit(x, y)


def run(rows: int, repeats: int = 1) -> dict[str, Any]:
    """`repeats` fits of each, alternating which goes first (default one each: minutes at full size)."""
    csv = synthetic_csv(rows)
    wall_s: dict[str, list[float]] = {"crispml": [], "bare": []}
    cpu_s: dict[str, list[float]] = {"crispml": [], "bare": []}
    phases: list[dict[str, float]] = []
    with scratch("train-") as tmp, crispml.connect(home=tmp / "home", database_url=f"sqlite:///{tmp}/c.db") as cml:
        _, curated = curated_chain(cml, csv)
        frame = cml.lifecycle.dataset_frame(curated.id)
        chosen = frame[FRAME].isin(TRAIN_FRAMES).to_numpy()
        x = frame[curated.features].to_numpy(dtype=np.float64)[chosen]
        y = frame[curated.target].to_numpy(dtype=np.int64)[chosen]
        del frame
        for i in range(repeats):
            # CPU seconds beside wall seconds: other processes on the machine slow the wall clock only.
            for which in ("bare", "crispml") if i % 2 == 0 else ("crispml", "bare"):
                cpu = time.process_time()
                if which == "bare":
                    seconds, _ = timed(bare_fit, x, y)
                else:
                    seconds, model, split = timed_phases(
                        cml.train, curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud", seed=42
                    )
                    phases.append(split)
                wall_s[which].append(seconds)
                cpu_s[which].append(time.process_time() - cpu)
    ours, floor = median(wall_s["crispml"]), median(wall_s["bare"])
    r = ratio(ours, floor)
    cpu_ratio = ratio(median(cpu_s["crispml"]), median(cpu_s["bare"]))
    return {
        "name": "train",
        "rows": rows,
        "train_rows": int(chosen.sum()),
        "features": x.shape[1],
        "call": "cml.train(curated, algorithm='rf', frames='1-6', weight=10)  # defaults: 100 trees, n_jobs=-1",
        "baseline": "RandomForestClassifier(n_estimators=100, n_jobs=-1, class_weight={0:1,1:10}, random_state=42).fit",
        "params": model.params,
        "holdout_roc_auc": (model.metrics.get("overall") or {}).get("roc_auc"),
        "timings_s": wall_s,
        "cpu_s": cpu_s,
        "phases_s": phases,
        "medians_s": {"crispml": ours, "bare": floor},
        "ratios": {"crispml_over_bare": r, "cpu_crispml_over_bare": cpu_ratio},
        "goals": [goal("crispml/bare wall time", r, GOAL_RATIO)],
        "headline": [
            {
                "benchmark": "train rf",
                "crispml_s": ours,
                "bare_s": floor,
                "rows_per_s": round(int(chosen.sum()) / ours),
                "ratio": r,
            }
        ],
    }
