"""NewDataReport: the score ledger joined with labels per model version and frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crispml.domain import ModelVersion
from crispml.domain.refs import ModelRef, parse_frames
from crispml.errors import NotFound
from crispml.observability import metrics
from crispml.ports import UnitOfWork
from crispml.services.base import GroupedPerfService
from crispml.services.comparison import compare_versions
from crispml.services.estimation import beside_realized
from crispml.steps.verify import verify as verify_step


@dataclass(frozen=True)
class Verification:
    model: str
    rows: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    """Why an estimate beside the realized KPIs may be off (a model without a calibration)."""
    comparison: dict[str, Any] | None = None
    """Two versions on the same labelled records with a paired test, when asked (`compare_versions`)."""


class VerificationService(GroupedPerfService):
    def verify(
        self,
        model_ref: str,
        *,
        frames: str | list[int] | None = None,
        compare: str | None = None,
        level: float = 0.05,
    ) -> Verification:
        """Ledger joined with labels per model version and frame, beside the training report's KPIs; with
        `compare` ("champion,challenger"), also those two versions on the same labelled records."""
        with self._perf("verify") as span:
            with self.store.reading() as uow:
                comparison = None if compare is None else compare_versions(uow, model_ref, compare, frames, level)
                versions = _versions(uow, model_ref)
                chosen = None
                if frames is not None:
                    chosen = parse_frames(frames, max(uow.datasets.get(v.dataset_id).frames for v in versions))
                ledger = uow.ledger.joined_labels([v.id for v in versions], chosen)
            span.model = model_ref
            span.rows_in = len(ledger)
            refs = {v.id: v.ref for v in versions}
            ledger["model"] = ledger["model_version_id"].map(refs)
            rows = verify_step(ledger)
            by_ref = {v.ref: v for v in versions}
            for row in rows:
                training = by_ref[row["model"]].metrics
                reference = (
                    training.get("overall")
                    if row["frame"] == "all"
                    else training.get("per_frame", {}).get(str(row["frame"]))
                )
                row["report_roc_auc"] = reference.get("roc_auc") if reference else None
                row["report_pr_auc"] = reference.get("pr_auc") if reference else None
            metrics.verified(rows)
            warnings = beside_realized(self.store, versions, ledger, rows)
            span.rows_out = len(rows)
            return Verification(model_ref, rows, warnings, comparison)


def _versions(uow: UnitOfWork, model_ref: str) -> list[ModelVersion]:
    """The one version a reference names, or every version of a bare name."""
    if not ModelRef.parse(model_ref).newest:
        return [uow.models.get(model_ref)]
    versions = uow.models.list_versions(model_ref)
    if not versions:
        raise NotFound(f"model {model_ref!r} does not exist")
    return versions
