"""Performance before the labels come: CBPE estimates of the ledger's unlabelled scores, and the
estimate beside the realized KPIs once labels arrive (what `verify` shows).

A model version's calibration is read from its checked file (`crispml.steps.calibration`). A version
trained before calibrations were stored, or whose holdout had too few frauds to calibrate on, is
estimated from its raw scores taken as probabilities, and every answer about it carries a warning
saying so: such an estimate is only as good as the model's own probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crispml.domain import ModelVersion
from crispml.domain.refs import ModelRef, parse_frames
from crispml.errors import InvalidInput, NotFound
from crispml.observability import metrics
from crispml.ports import Storage, UnitOfWork
from crispml.services.base import GroupedPerfService, now
from crispml.services.monitoring import parse_since
from crispml.steps import calibration as calibrating
from crispml.steps.calibration import Calibration
from crispml.steps.cbpe import KPIS, estimate_groups

DEFAULT_LEVEL = 0.99


@dataclass(frozen=True)
class Estimation:
    model: str
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)


class EstimationService(GroupedPerfService):
    def estimate(
        self,
        model_ref: str,
        *,
        frames: str | list[int] | None = None,
        since: str | None = None,
        level: float = DEFAULT_LEVEL,
    ) -> Estimation:
        """Estimated ROC AUC, precision, recall and F1 (each with a `level` interval) of the scores that
        have no label yet, per model version and frame (then 'all'); `since` keeps scores of the last
        '24h' (s, m, h, d, w) or after an ISO time."""
        check_level(level)
        cutoff = parse_since(since, now()) if since is not None else None
        with self._perf("estimate") as span:
            with self.store.reading() as uow:
                versions = model_versions(uow, model_ref)
                chosen = None
                if frames is not None:
                    chosen = parse_frames(frames, max(uow.datasets.get(v.dataset_id).frames for v in versions))
                ledger = uow.ledger.joined_labels([v.id for v in versions], chosen)
                for version in versions:
                    uow.audit.check_model(version)
            span.model = model_ref
            span.rows_in = len(ledger)
            if cutoff is not None and not ledger.empty:
                ledger = ledger[pd.to_datetime(ledger["scored_at"], utc=True) >= cutoff]
            unlabelled = ledger[ledger["label"].isna()]
            rows: list[dict[str, Any]] = []
            warnings: list[str] = []
            for version in versions:
                mine = unlabelled[unlabelled["model_version_id"] == version.id]
                if mine.empty:
                    continue
                calibration, warning = load_calibration(self.store, version)
                if warning:
                    warnings.append(warning)
                seed = int(version.metrics.get("seed", 42))
                for frame, found in estimate_groups(mine, calibration, level=level, seed=seed).items():
                    rows.append({"model": version.ref, "frame": frame, "unlabelled": found["rows"],
                                 "calibration": calibration.method if calibration else "none",
                                 "level": level, **found})  # fmt: skip
            metrics.estimated(rows)
            span.rows_out = len(rows)
            return Estimation(model_ref, rows, warnings)


def beside_realized(store: Storage, versions: list[ModelVersion], ledger: pd.DataFrame, rows: list[dict[str, Any]],
                    level: float = DEFAULT_LEVEL) -> list[str]:  # fmt: skip
    """Put on each verification row with labels the estimate of all its frame's scores (labels unseen),
    and per KPI the estimate, the error (realized - estimated) and whether the realized KPI lies in the
    interval, and the frauds expected beside those labelled; the 'all' row gets each KPI's mean absolute
    error over the frames. Returns warnings."""
    warnings: list[str] = []
    by_ref = {v.ref: v for v in versions}
    estimates: dict[str, dict[Any, dict[str, Any]]] = {}
    for version in versions:
        mine = ledger[ledger["model_version_id"] == version.id]
        if mine.empty:
            continue
        calibration, warning = load_calibration(store, version)
        if warning:
            warnings.append(warning)
        seed = int(version.metrics.get("seed", 42))
        estimates[version.ref] = estimate_groups(mine, calibration, level=level, seed=seed)
    errors: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        found = estimates.get(row["model"], {}).get(row["frame"])
        if found is None or not row["labelled"] or row["model"] not in by_ref:
            row["estimate"] = None
            continue
        kpis: dict[str, Any] = {}
        for kpi in KPIS:
            estimated, realized, interval = found[kpi], row.get(kpi), found["interval"][kpi]
            error = None if estimated is None or realized is None else realized - estimated
            inside = None if interval is None or realized is None else interval[0] <= realized <= interval[1]
            kpis[kpi] = {"estimated": estimated, "realized": realized, "interval": interval, "error": error,
                         "within_interval": inside}  # fmt: skip
            if error is not None and row["frame"] != "all":
                errors.setdefault(row["model"], {}).setdefault(kpi, []).append(abs(error))
        # Frauds expected from the probabilities against those labelled: a pattern that moved where the
        # model no longer looks shows here too (few expected, many found).
        positives = {"estimated": found["expected_positives"], "realized": row.get("positives")}
        row["estimate"] = {"level": level, "rows": found["rows"], "kpis": kpis, "positives": positives}
    for row in rows:
        if row["frame"] == "all" and row.get("estimate"):
            spread = errors.get(row["model"], {})
            row["estimate"]["mean_absolute_error"] = {k: sum(v) / len(v) for k, v in spread.items() if v}
    metrics.estimate_errors(rows)
    return warnings


def load_calibration(store: Storage, version: ModelVersion) -> tuple[Calibration | None, str | None]:
    """A version's checked calibration, or None and a warning saying the raw scores stand in for it."""
    summary = version.metrics.get("calibration")
    if not isinstance(summary, dict):
        return None, (
            f"model {version.ref} was trained before calibrations were stored: its estimates take the raw "
            "scores as probabilities; train a new version to calibrate them"
        )
    if not summary.get("sha256"):
        return None, (
            f"model {version.ref} has no calibration (its holdout had too few rows of a class): its "
            "estimates take the raw scores as probabilities"
        )
    data = store.model_bytes(str(summary["sha256"]), calibrating.SUFFIX)  # sha256 checked on read
    return calibrating.read_file(data, summary), None


def model_versions(uow: UnitOfWork, model_ref: str) -> list[ModelVersion]:
    """The one version a reference names, or every version of a bare name."""
    if not ModelRef.parse(model_ref).newest:
        return [uow.models.get(model_ref)]
    versions = uow.models.list_versions(model_ref)
    if not versions:
        raise NotFound(f"model {model_ref!r} does not exist")
    return versions


def check_level(level: float) -> None:
    if not 0.5 <= level < 1:
        raise InvalidInput(f"interval level {level} must lie in [0.5, 1)", field="level")
