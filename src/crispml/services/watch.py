"""Watching the champions: their drift and estimated KPIs, for retraining conditions and, on a schedule,
for the metrics Prometheus scrapes without anyone calling `crispml monitor` or `crispml estimate`.

`champion_drift` and `champion_estimate` are what the `drift-*` and `estimated-*` retraining conditions
read (see `crispml.services.retrain_conditions`); `MonitorSchedule` is a server's loop that refreshes
`crispml_drift_psi`, `crispml_drift_level` and `crispml_estimated_kpi` for every `champion` alias, over
the records of the last `CRISPML_MONITOR_REFRESH_WINDOW`, every `CRISPML_MONITOR_REFRESH_INTERVAL_S`.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from crispml.errors import CrispmlError, InvalidInput, NotFound
from crispml.ports import Storage
from crispml.services.monitoring import Monitoring, MonitoringService
from crispml.services.scoring import ScoringService

CHAMPION = "champion"
MAX_CHAMPIONS = 100
"""Champion aliases one refresh watches at most (the metrics' label sets stay bounded)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
log = logging.getLogger("crispml.watch")


def champion_drift(monitoring: MonitoringService, ref: str, since: datetime | None) -> dict[str, Any]:
    """The drift of model version `ref` overall, per feature (and the score): over the records it scored
    online since `since` (None: all the input log keeps), else, when none were kept, over the frames of its
    dataset it was not trained on. Figures for a trigger; `error` says why nothing was measured."""
    try:
        try:
            found = monitoring.monitor(ref, since=(since or _EPOCH).isoformat())
        except (NotFound, InvalidInput):  # nothing scored online since then, or the input log is off
            found = monitoring.monitor(ref)
    except CrispmlError as exc:
        return {"model_version": ref, "overall": {}, "error": exc.message}
    return {"model_version": found.model_version, "source": found.source, "rows": _rows(found),
            "psi_alarm": found.levels["psi_alarm"], "overall": _overall(found)}  # fmt: skip


def champion_estimate(scoring: ScoringService, ref: str, since: datetime | None) -> dict[str, Any] | None:
    """The CBPE estimate of model version `ref` over all its scores without a label (scored since `since`,
    if given): the 'all' row with `since`; None when it has no such score."""
    try:
        found = scoring.estimate(ref, since=None if since is None else since.isoformat())
    except CrispmlError as exc:
        log.warning("no estimate of %s: %s", ref, exc.message)
        return None
    row = next((r for r in found.rows if r["frame"] == "all" and r["model"] == ref), None)
    return None if row is None else {**row, "since": None if since is None else since.isoformat()}


def _overall(found: Monitoring) -> dict[str, dict[str, Any]]:
    return {row["feature"]: {"psi": row["psi"], "level": row["level"]} for row in found.rows
            if "all" in (row["frame"], row["period"])}  # fmt: skip


def _rows(found: Monitoring) -> int:
    return max((int(row["rows"]) for row in found.rows if "all" in (row["frame"], row["period"])), default=0)


class MonitorSchedule:
    """Refreshes the drift and estimate metrics of every champion alias (a server's loop)."""

    def __init__(self, store: Storage, monitoring: MonitoringService, scoring: ScoringService, window: str) -> None:
        self.store, self.monitoring, self.scoring, self.window = store, monitoring, scoring, window

    def refresh(self) -> dict[str, list[str]]:
        """Monitor each champion over the records it scored online in the window, and estimate its
        unlabelled scores of the window; per champion, what was refreshed ('drift', 'estimate')."""
        with self.store.reading() as uow:
            champions = [f"{name}@{alias}" for name, alias, _, _ in uow.models.aliased() if alias == CHAMPION]
        refreshed: dict[str, list[str]] = {}
        for ref in champions[:MAX_CHAMPIONS]:
            done = refreshed.setdefault(ref, [])
            try:
                self.monitoring.monitor(ref, since=self.window)  # sets the drift gauges
                done.append("drift")
            except CrispmlError as exc:  # nothing scored online in the window, no profile...
                log.debug("drift of %s not refreshed: %s", ref, exc.message)
            try:
                if self.scoring.estimate(ref, since=self.window).rows:  # sets the estimate gauges
                    done.append("estimate")
            except CrispmlError as exc:
                log.debug("estimate of %s not refreshed: %s", ref, exc.message)
        return refreshed

    def serve(self, stopping: threading.Event, interval_s: float) -> None:
        """Refresh every `interval_s` until `stopping` is set."""
        while not stopping.wait(interval_s):
            try:
                self.refresh()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("monitoring refresh failed; trying again at the next interval")
