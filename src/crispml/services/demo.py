"""The reference scenario end to end: synthesize, ingest 12 frames, prepare, curate, train rf with
class weight 10 on frames 1-6, report, persist as champion, score frames 7-12, label them, verify."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crispml.domain import Dataset, ModelVersion, SourceSpec
from crispml.services.base import Progress
from crispml.services.lifecycle import LifecycleService
from crispml.services.scoring import LabelReport, ScoreResult, ScoringService, Verification
from crispml.services.synthesis import write_synthetic
from crispml.steps.synthetic import REFERENCE_ROWS


@dataclass(frozen=True)
class DemoResult:
    raw: Dataset
    prepared: Dataset
    curated: Dataset
    model: ModelVersion
    report: dict[str, Any]
    scored: ScoreResult
    labels: LabelReport
    verification: Verification


def run_demo(
    lifecycle: LifecycleService,
    scoring: ScoringService,
    data_dir: Path,
    *,
    rows: int = REFERENCE_ROWS,
    algorithm: str = "rf",
    weight: float = 10.0,
    params: dict[str, Any] | None = None,
    step: Callable[[str], Progress],
) -> DemoResult:
    """Run every method once; `step(title)` returns the progress callback for that step."""
    source = data_dir / f"creditcard-{rows}.csv"
    if not source.exists():
        progress = step("synthesize")
        progress("write", 0.0)
        write_synthetic(source, rows)
        progress("done", 1.0)
    raw = lifecycle.ingest(SourceSpec(path=str(source)), name="ccf", slices=12, progress=step("ingest"))
    prepared = lifecycle.prepare(raw.id, progress=step("prepare"))
    curated = lifecycle.curate(prepared.id, algorithm=algorithm, frames="1-6", progress=step("curate"))
    model = lifecycle.train(
        curated.id,
        algorithm=algorithm,
        frames="1-6",
        weight=weight,
        name="fraud",
        params=params,
        progress=step("train"),
    )
    report = lifecycle.report(model.ref)
    model = lifecycle.persist(model.ref, alias="champion")
    scored = scoring.score("fraud@champion", dataset=raw.id, frames="7-12", progress=step("score"))
    labels = scoring.label(dataset=raw.id, frames="7-12")
    verification = scoring.verify(model.ref, frames="7-12")
    return DemoResult(raw, prepared, curated, model, report, scored, labels, verification)
