"""A seeded synthetic twin of the public credit-card-fraud data set.

Same schema (Time, V1..V28, Amount, Class), same size and fraud ratio (492 in 284,807). Fraud is
learnable but not trivial: frauds shift a handful of the PCA-like components by a per-row strength, and
a share of them look entirely ordinary, so a forest reaches a ROC AUC in the mid 0.90s, not 1.0.

A `Drift` changes the data from a given time frame on (frames are the equal row-count slices that ingest
cuts, in Time order): features shift by a number of standard deviations, the fraud rate is multiplied,
or the fraud signal moves to other components. Without one the output is exactly what it always was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

REFERENCE_ROWS = 284_807
REFERENCE_FRAUDS = 492
TIME_SPAN_S = 172_792
FEATURES = [f"V{i}" for i in range(1, 29)]

# Components that carry the fraud signal and the direction each moves in (as in the public set,
# where V14, V17, V12 and V10 are the strongest).
_SIGNAL = {
    "V14": -1.0,
    "V17": -0.9,
    "V12": -0.9,
    "V10": -0.7,
    "V16": -0.6,
    "V3": -0.6,
    "V11": 0.6,
    "V4": 0.6,
    "V7": -0.5,
    "V2": 0.4,
}
_HIDDEN_FRAUD_SHARE = 0.05
# Where `pattern="swap"` moves the fraud signal: the same directions on components that carried none.
_SWAPPED_SIGNAL = dict(zip([f for f in FEATURES if f not in _SIGNAL], _SIGNAL.values(), strict=False))
SHIFTABLE = [*FEATURES, "Amount"]
PATTERNS = ("swap",)
_DRIFT_STREAM = 0xD1F7  # the drift's own random stream, so the undrifted draws stay as they were


@dataclass(frozen=True)
class Drift:
    """How the data changes from frame `from_frame` (1-based, of `frames` equal row-count slices) on.

    `shift` moves features by that many of their pre-drift standard deviations, `fraud_rate` multiplies
    the number of frauds, `pattern="swap"` moves the fraud signal to components that carried none.
    """

    from_frame: int
    shift: Mapping[str, float] = field(default_factory=dict)
    fraud_rate: float = 1.0
    pattern: Literal["swap"] | None = None
    frames: int = 12

    def __post_init__(self) -> None:
        from crispml.errors import InvalidInput

        if self.frames < 1:
            raise InvalidInput("frames must be at least 1", field="frames")
        if not 1 <= self.from_frame <= self.frames:
            raise InvalidInput(f"drift frame {self.from_frame} is out of range 1..{self.frames}", field="drift_from")
        unknown = sorted(set(self.shift) - set(SHIFTABLE))
        if unknown:
            raise InvalidInput(f"cannot shift {', '.join(unknown)}: shiftable are V1..V28 and Amount", field="shift")
        for name, amount in self.shift.items():
            if not np.isfinite(amount):
                raise InvalidInput(f"shift of {name} must be a finite number", field="shift")
        if not np.isfinite(self.fraud_rate) or self.fraud_rate < 0:
            raise InvalidInput(f"fraud rate {self.fraud_rate} must be a multiplier >= 0", field="fraud_rate")
        if self.pattern is not None and self.pattern not in PATTERNS:
            raise InvalidInput(
                f"unknown fraud pattern {self.pattern!r}: use one of {', '.join(PATTERNS)}", field="pattern"
            )


def fraud_count(rows: int) -> int:
    """Frauds for a given size: the reference ratio, at least one when rows allow it."""
    return max(1 if rows >= 2 else 0, round(rows * REFERENCE_FRAUDS / REFERENCE_ROWS))


def synthesize(rows: int = REFERENCE_ROWS, seed: int = 42, drift: Drift | None = None) -> pd.DataFrame:
    """Return `rows` rows of Time, V1..V28, Amount, Class, ordered by Time, drifted as `drift` says."""
    if rows < 1:
        raise ValueError("rows must be at least 1")
    if drift is not None and rows < drift.frames:
        raise ValueError(f"cannot cut {rows} rows into {drift.frames} frames")
    rng = np.random.default_rng(seed)

    # Transactions follow a day/night rhythm over two days; Time is increasing and spans 0..172792.
    hours = rng.uniform(0, 48, rows * 2)
    keep = rng.uniform(0, 1, hours.size) < 0.35 + 0.65 * np.sin(np.pi * (hours % 24) / 24) ** 2
    hours = hours[keep][:rows]
    if hours.size < rows:
        hours = np.concatenate([hours, rng.uniform(0, 48, rows - hours.size)])
    time = np.sort(np.round(hours * 3600.0))
    time[0], time[-1] = 0.0, float(TIME_SPAN_S)
    time = np.clip(time, 0, TIME_SPAN_S)

    # PCA-like components: centred, decreasing variance, mildly heavy-tailed.
    scales = np.linspace(1.9, 0.3, len(FEATURES))
    components = rng.standard_t(df=6, size=(rows, len(FEATURES))) * scales * 0.8

    fraud = np.zeros(rows, dtype=np.int64)
    fraud_rows = rng.choice(rows, size=fraud_count(rows), replace=False)
    fraud[fraud_rows] = 1

    strength = rng.gamma(shape=3.0, scale=0.8, size=fraud_rows.size)
    strength[rng.uniform(0, 1, fraud_rows.size) < _HIDDEN_FRAUD_SHARE] = 0.0
    for name, direction in _SIGNAL.items():
        col = FEATURES.index(name)
        noise = rng.normal(1.0, 0.6, fraud_rows.size)
        components[fraud_rows, col] += direction * strength * noise * scales[col] * 3.0

    amount = np.round(rng.lognormal(mean=3.0, sigma=1.4, size=rows), 2)
    amount[fraud_rows] = np.round(rng.lognormal(mean=3.4, sigma=1.6, size=fraud_rows.size), 2)
    amount = np.clip(amount, 0.0, 25_691.16)
    if drift is not None:
        _apply_drift(components, amount, fraud, scales, drift, np.random.default_rng([seed, _DRIFT_STREAM]))

    frame = pd.DataFrame(components, columns=FEATURES)
    frame.insert(0, "Time", time)
    frame["Amount"] = amount
    frame["Class"] = fraud
    return frame


def _apply_drift(
    components: np.ndarray,
    amount: np.ndarray,
    fraud: np.ndarray,
    scales: np.ndarray,
    drift: Drift,
    rng: np.random.Generator,
) -> None:
    """Change the rows of frames `drift.from_frame`.. in place (the frames ingest would cut)."""
    rows = fraud.size
    frame_of = np.minimum(np.arange(rows) // (rows // drift.frames) + 1, drift.frames)
    region = frame_of >= drift.from_frame
    before = ~region if (~region).any() else region
    spread = {name: float(_column(components, amount, name)[before].std()) or 1.0 for name in drift.shift}

    frauds = np.flatnonzero(region & (fraud == 1))
    ordinary = np.flatnonzero(region & (fraud == 0))
    wanted = min(round(frauds.size * drift.fraud_rate), frauds.size + ordinary.size)
    if wanted < frauds.size:  # frauds that never happened: fresh ordinary rows
        cleared = rng.choice(frauds, size=frauds.size - wanted, replace=False)
        components[cleared] = _ordinary(rng, cleared.size, scales)
        amount[cleared] = _amounts(rng, cleared.size, 3.0, 1.4)
        fraud[cleared] = 0
    elif wanted > frauds.size:  # more fraud: ordinary rows that now carry the signal
        added = rng.choice(ordinary, size=wanted - frauds.size, replace=False)
        fraud[added] = 1
        amount[added] = _amounts(rng, added.size, 3.4, 1.6)
        if drift.pattern is None:
            _add_signal(rng, components, added, scales, _SIGNAL)

    if drift.pattern == "swap":  # every fraud of the region, redrawn with the signal elsewhere
        moved = np.flatnonzero(region & (fraud == 1))
        components[moved] = _ordinary(rng, moved.size, scales)
        _add_signal(rng, components, moved, scales, _SWAPPED_SIGNAL)

    for name, sigmas in drift.shift.items():
        _column(components, amount, name)[region] += sigmas * spread[name]
    np.clip(amount, 0.0, None, out=amount)


def _column(components: np.ndarray, amount: np.ndarray, name: str) -> np.ndarray:
    return amount if name == "Amount" else components[:, FEATURES.index(name)]


def _ordinary(rng: np.random.Generator, count: int, scales: np.ndarray) -> np.ndarray:
    return rng.standard_t(df=6, size=(count, len(FEATURES))) * scales * 0.8


def _amounts(rng: np.random.Generator, count: int, mean: float, sigma: float) -> np.ndarray:
    return np.clip(np.round(rng.lognormal(mean=mean, sigma=sigma, size=count), 2), 0.0, 25_691.16)


def _add_signal(
    rng: np.random.Generator, components: np.ndarray, rows: np.ndarray, scales: np.ndarray, signal: Mapping[str, float]
) -> None:
    strength = rng.gamma(shape=3.0, scale=0.8, size=rows.size)
    strength[rng.uniform(0, 1, rows.size) < _HIDDEN_FRAUD_SHARE] = 0.0
    for name, direction in signal.items():
        col = FEATURES.index(name)
        components[rows, col] += direction * strength * rng.normal(1.0, 0.6, rows.size) * scales[col] * 3.0
