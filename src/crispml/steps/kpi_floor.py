"""The realized KPI of one model version over its last labelled frames, as the fallback's floor reads it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from crispml.steps.evaluate import kpis


@dataclass(frozen=True)
class Realized:
    """A KPI realized over some labelled frames."""

    kpi: str
    value: float
    frames: tuple[int, ...]
    labelled: int

    def frames_text(self) -> str:
        """'10-12' for consecutive frames, else '3,5,9'."""
        first, last = self.frames[0], self.frames[-1]
        if list(self.frames) == list(range(first, last + 1)):
            return str(first) if first == last else f"{first}-{last}"
        return ",".join(str(f) for f in self.frames)


def realized_kpi(ledger: pd.DataFrame, kpi: str, frames: int, min_labels: int) -> Realized | None:
    """`kpi` of one model version's scores against their labels over its last `frames` frames that hold a
    label; None while those frames hold fewer than `min_labels` labels, or the KPI is undefined there
    (an AUC over one class). `ledger` is as `LedgerRepository.joined_labels` returns it; a record scored
    more than once counts once, with its latest score."""
    if ledger.empty:
        return None
    latest = ledger.sort_values("scored_at", kind="stable").drop_duplicates("record_id", keep="last")
    labelled = latest[latest["label"].notna() & latest["frame"].notna()]
    chosen = tuple(int(f) for f in sorted(labelled["frame"].unique())[-frames:])
    group = labelled[labelled["frame"].isin(chosen)]
    if len(group) < min_labels:
        return None
    threshold = float(group["threshold"].iloc[-1])
    value = kpis(group["label"].astype("int64").to_numpy(), group["score"].to_numpy(dtype="float64"), threshold)[kpi]
    return None if value is None else Realized(kpi, float(value), chosen, len(group))
