"""Drift: a reference profile of what a model saw in training, and how far new inputs moved from it.

A profile holds, per feature, the reference's quantile bin edges (deciles by default) with the share of
rows in each bin and the missing-value rate; the score distribution is profiled the same way. New inputs
are binned on the same edges and compared: population stability index (PSI), Jensen-Shannon distance
(scipy, base 2, in 0..1) and the change of the missing-value rate, each judged against warning and alarm
levels. The profile is plain JSON: nothing in it is ever executed or unpickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.spatial.distance import jensenshannon

PROFILE_FORMAT = "crispml.reference-profile/1"
SCORE = "score"
"""The name the score's row carries beside the features'."""
LEVELS = ("ok", "warning", "alarm")
IGNORED = "ignored"
_FLOOR = 1e-4  # an empty bin's share, so that PSI's logarithm stays finite


@dataclass(frozen=True)
class Levels:
    """Where drift warns and raises the alarm."""

    psi_warning: float = 0.1
    psi_alarm: float = 0.25
    missing_warning: float = 0.05
    missing_alarm: float = 0.2
    ignored: tuple[str, ...] = ()
    """Features measured but never judged (level 'ignored'): clock-like columns, which move by nature."""


def profile(
    features: np.ndarray, names: Sequence[str], scores: np.ndarray, frames: Sequence[int], bins: int = 10
) -> dict[str, Any]:
    """The reference profile of a feature matrix (rows x `names`) and its scores, as JSON-ready data."""
    return {
        "format": PROFILE_FORMAT,
        "rows": int(features.shape[0]),
        "frames": [int(f) for f in frames],
        "features": {name: _column_profile(features[:, i], bins) for i, name in enumerate(names)},
        SCORE: _column_profile(np.asarray(scores, dtype=np.float64), bins),
    }


def sample_rows(rows: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """`rows` if there are at most `limit`, else `limit` of them drawn with `seed`, in their order."""
    if rows.size <= limit:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=limit, replace=False))


def _column_profile(values: np.ndarray, bins: int) -> dict[str, Any]:
    values = np.asarray(values, dtype=np.float64)
    present = values[~np.isnan(values)]
    missing = (values.size - present.size) / values.size if values.size else 0.0
    if present.size == 0:
        return {"edges": [], "shares": [1.0], "missing_rate": missing}
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
    return {"edges": edges.tolist(), "shares": _shares(present, edges).tolist(), "missing_rate": missing}


def _shares(present: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of values per bin: (-inf, e1], (e1, e2], ..., (ek, inf)."""
    counts = np.bincount(np.searchsorted(edges, present, side="left"), minlength=edges.size + 1)
    return counts / max(1, present.size)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two bin-share vectors (shares floored, so empty bins count)."""
    ref, cur = np.maximum(reference, _FLOOR), np.maximum(current, _FLOOR)
    return float(np.sum((cur - ref) * np.log(cur / ref)))


def compare(
    reference: dict[str, Any], features: np.ndarray, names: Sequence[str], scores: np.ndarray, levels: Levels
) -> list[dict[str, Any]]:
    """One row per feature (and one for the score): PSI, Jensen-Shannon distance, missing-value rates
    and the level (ok, warning, alarm) of the worst of them ('ignored' for `levels.ignored`)."""
    rows = []
    columns = [*[(name, features[:, i]) for i, name in enumerate(names)], (SCORE, scores)]
    for name, values in columns:
        ref = reference[SCORE] if name == SCORE else reference["features"].get(name)
        if ref is None:
            continue
        rows.append(_compare_column(name, ref, np.asarray(values, dtype=np.float64), levels))
    return rows


def _compare_column(name: str, ref: dict[str, Any], values: np.ndarray, levels: Levels) -> dict[str, Any]:
    present = values[~np.isnan(values)]
    missing = (values.size - present.size) / values.size if values.size else 0.0
    ref_shares = np.asarray(ref["shares"], dtype=np.float64)
    shares = _shares(present, np.asarray(ref["edges"], dtype=np.float64))
    index = psi(ref_shares, shares) if present.size else 0.0
    distance = float(jensenshannon(ref_shares, shares, base=2)) if present.size else 0.0
    missing_change = abs(missing - float(ref["missing_rate"]))
    level = max(
        _level(index, levels.psi_warning, levels.psi_alarm),
        _level(missing_change, levels.missing_warning, levels.missing_alarm),
    )
    judged = LEVELS[level] if name not in levels.ignored else IGNORED
    return {
        "feature": name,
        "rows": int(values.size),
        "psi": round(index, 6),
        "js_distance": round(distance if np.isfinite(distance) else 0.0, 6),
        "missing_rate": round(missing, 6),
        "reference_missing_rate": round(float(ref["missing_rate"]), 6),
        "level": judged,
    }


def _level(value: float, warning: float, alarm: float) -> int:
    return 2 if value >= alarm else 1 if value >= warning else 0


def worst(rows: Sequence[dict[str, Any]], level: str) -> list[str]:
    """Names whose worst level over `rows` is `level`, in first-seen order."""
    ranks: dict[str, int] = {}
    for row in rows:
        if row["level"] == IGNORED:
            continue
        ranks[row["feature"]] = max(ranks.get(row["feature"], 0), LEVELS.index(row["level"]))
    return [name for name, rank in ranks.items() if rank == LEVELS.index(level)]
