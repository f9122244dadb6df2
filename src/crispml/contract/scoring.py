"""The scoring side's answer models: score batches and their pages, label imports, verification,
performance estimation and monitoring (see `crispml.contract.answers` for the shapes they share).

The score batch also has `dump`, a plain-dict builder for the hot scoring path, which answers without
pydantic (its keys are the model's, a test holds them).
"""

from __future__ import annotations

from typing import Any, Protocol, Self

from pydantic import Field

from crispml.contract.answers import Answer, Timestamp, field_values, iso_time
from crispml.domain import ScoreBatch, ScoredRecords


class ScoreRow(Answer):
    record_id: str
    frame: int | None
    score: float
    decision: int


class _ScoreResult(Protocol):
    """What the scoring service answers (services.scoring.ScoreResult), seen from here."""

    @property
    def batch(self) -> ScoreBatch: ...
    @property
    def records(self) -> ScoredRecords: ...
    @property
    def replayed(self) -> bool: ...
    @property
    def imputed(self) -> tuple[str, ...]: ...


class ScoreBatchAnswer(Answer):
    """NewDataScore: a committed score batch; `scores` when records were scored, null for a dataset's
    batch (page through it with the batch route)."""

    batch_id: str = Field(examples=["sb-51c0ab2e"])
    model: str = Field(examples=["fraud/1"], description="The model version that scored.")
    fallback_reason: str | None = Field(
        None,
        description="Why the name's fallback version scored instead of the version the request named (which "
        "could not be loaded); null when the version named scored.",
    )
    rows: int
    flagged: int = Field(description="Records whose decision is 1.")
    created_at: Timestamp
    replayed: bool = Field(description="True when an idempotency key matched: nothing new was written.")
    scores: list[ScoreRow] | None
    imputed: list[str] = Field(
        default_factory=list,
        description="Columns whose missing values (null) were filled by the model's recorded missing-value "
        "policy (its preparation's median or zero fill); a gap the policy does not fill is refused (422).",
    )

    @staticmethod
    def dump(result: _ScoreResult, *, with_scores: bool = True) -> dict[str, Any]:
        """The answer as plain JSON values, built without validation (the hot path answers this)."""
        return {
            "batch_id": result.batch.id,
            "model": result.batch.model_ref,
            "fallback_reason": result.batch.fallback_reason,
            "rows": result.batch.rows,
            "flagged": sum(result.records.decisions),
            "created_at": iso_time(result.batch.created_at),
            "replayed": result.replayed,
            "scores": result.records.as_dicts() if with_scores else None,
            "imputed": list(result.imputed),
        }

    @classmethod
    def from_domain(cls, result: _ScoreResult, *, with_scores: bool = True) -> Self:
        return cls.model_validate(cls.dump(result, with_scores=with_scores))


class ScoreBatchPage(Answer):
    """A page of a persisted score batch."""

    batch_id: str
    model: str
    fallback_reason: str | None = Field(None, description="Why the name's fallback version scored, if it did.")
    rows: int = Field(description="Scores in the whole batch.")
    flagged: int = Field(description="Records of this page whose decision is 1.")
    created_at: Timestamp
    scores: list[ScoreRow]
    limit: int
    offset: int
    next: int | None = Field(None, description="Offset of the next page; null on the last one.")
    role: str | None = Field(
        None,
        description="A challenger's batch: shadow (scored beside the champion's batches shadow_of, never "
        "answered) or canary (it answered instead of the champion); null for every other batch.",
    )
    shadow_of: list[str] | None = Field(
        None,
        description="The champion's batches a shadow batch scored beside (the requests one gathering window "
        "of the shadow took together); null for every other batch.",
    )

    @staticmethod
    def dump(result: _ScoreResult, limit: int, offset: int) -> dict[str, Any]:
        page = result.records.page(offset, offset + limit)
        after = offset + len(page)
        return {
            "batch_id": result.batch.id,
            "model": result.batch.model_ref,
            "fallback_reason": result.batch.fallback_reason,
            "rows": result.batch.rows,
            "flagged": sum(page.decisions),
            "created_at": iso_time(result.batch.created_at),
            "scores": page.as_dicts(),
            "limit": limit,
            "offset": offset,
            "next": after if after < result.batch.rows else None,
            "role": result.batch.role,
            "shadow_of": list(result.batch.shadow_of) or None,
        }


class _LabelReport(Protocol):
    @property
    def import_id(self) -> str: ...
    @property
    def imported(self) -> int: ...
    @property
    def positives(self) -> int: ...
    @property
    def unknown(self) -> int: ...
    @property
    def unknown_sample(self) -> list[str]: ...


class LabelReportAnswer(Answer):
    """NewDataLabel: how many labels were upserted, and those naming records never scored."""

    import_id: str
    imported: int
    positives: int
    unknown: int = Field(description="Labels of records never scored (kept for later scores).")
    unknown_sample: list[str]

    @classmethod
    def from_domain(cls, report: _LabelReport) -> Self:
        return cls.model_validate(report)


class _Verification(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def rows(self) -> list[dict[str, Any]]: ...
    @property
    def comparison(self) -> dict[str, Any] | None: ...


class VerificationAnswer(Answer):
    """NewDataReport: persisted scores against labels, per model version and frame, then overall."""

    model: str = Field(examples=["fraud@champion"])
    rows: list[dict[str, Any]] = Field(
        description="One row per model version and frame (frame 'all' last): counts and KPIs beside the "
        "training report's roc_auc and pr_auc."
    )
    comparison: dict[str, Any] | None = Field(
        None,
        description="With compare: the two versions on the records both scored (shadow scores included) "
        "and that have labels: records, positives, first_roc_auc, second_roc_auc, difference (second minus "
        "first), std_error, p_value and interval of DeLong's paired test, and whether it is significant at level.",
    )

    warnings: list[str] = Field(default_factory=list,
                                description="Why an estimate beside the realized KPIs may be off.")  # fmt: skip

    @classmethod
    def from_domain(cls, verification: _Verification) -> Self:
        return cls.model_validate(verification)


class _Estimation(Protocol):
    @property
    def model(self) -> str: ...
    @property
    def rows(self) -> list[dict[str, Any]]: ...
    @property
    def warnings(self) -> list[str]: ...


class EstimationAnswer(Answer):
    """Performance before labels: CBPE estimates of the unlabelled scores, per model version and frame."""

    model: str = Field(examples=["fraud@champion"])
    rows: list[dict[str, Any]] = Field(
        description="One row per model version and frame with unlabelled scores (frame 'all' last): the "
        "estimated roc_auc, precision, recall, f1, each interval, the expected confusion and the calibration."
    )
    warnings: list[str] = Field(description="Versions estimated from raw scores, having no calibration.")

    @classmethod
    def from_domain(cls, estimation: _Estimation) -> Self:
        return cls.model_validate(estimation)


class MonitoringAnswer(Answer):
    """Drift of a model version's inputs and scores against the reference profile of its training frames."""

    model: str = Field(examples=["fraud@champion"])
    model_version: str = Field(examples=["fraud/3"], description="The version the reference names.")
    source: str = Field(description="What was compared: a dataset's frames, or records scored online since a time.")
    reference: dict[str, Any] = Field(description="The training frames profiled, and their rows.")
    levels: dict[str, Any] = Field(
        description="PSI and missing-rate change at which drift warns and alarms; features never judged."
    )
    rows: list[dict[str, Any]] = Field(
        description="One row per frame (or hour, `period`) and feature, then frame/period 'all': psi, js_distance "
        "(Jensen-Shannon, base 2), missing_rate beside reference_missing_rate, level (ok, warning, alarm, or "
        "ignored for a feature never judged). "
        "The feature 'score' is the model's score distribution."
    )
    alarms: list[str] = Field(description="Features (or 'score') whose worst level is alarm.")
    warnings: list[str] = Field(description="Features (or 'score') whose worst level is warning.")

    @classmethod
    def from_domain(cls, monitoring: Any) -> Self:
        return cls(**field_values(monitoring))
