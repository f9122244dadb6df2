"""The reference scenario end to end, as the pipeline `pipelines/fraud.yaml`: synthesize, ingest 12
frames, prepare, curate, train rf with class weight 10 on frames 1-6, report on frames 7-12, gate,
persist as champion, score frames 7-12, label them, verify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crispml.contract.pipeline import Pipeline
from crispml.services.pipelines import parse_pipeline

FRAUD_PIPELINE = Path(__file__).resolve().parents[1] / "pipelines" / "fraud.yaml"
"""The reference pipeline file, shipped with the package (and linked from the repository's pipelines/)."""


def fraud_pipeline(rows: int | None = None, algorithm: str | None = None,
                   params: dict[str, Any] | None = None) -> Pipeline:  # fmt: skip
    """The reference pipeline, with the demo's options: `rows` of synthetic data, another algorithm, parameters."""
    pipeline = parse_pipeline(FRAUD_PIPELINE.read_text(encoding="utf-8"))
    update: dict[str, Any] = {}
    if rows is not None and pipeline.ingest is not None:
        source = pipeline.ingest.source.model_copy(update={"path": f"creditcard-{rows}.csv"})
        update["ingest"] = pipeline.ingest.model_copy(update={"source": source, "synthetic_rows": rows})
    if algorithm is not None:
        update["curate"] = pipeline.curate.model_copy(update={"algorithm": algorithm})
        update["train"] = pipeline.train.model_copy(update={"algorithm": algorithm})
    if params:
        train = update.get("train", pipeline.train)
        update["train"] = train.model_copy(update={"params": params})
    # Validated again as a whole: the options meet the same checks as the file.
    return Pipeline.model_validate(pipeline.model_copy(update=update).model_dump())
