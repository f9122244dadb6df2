"""Governance: where a model or dataset came from (lineage)."""

from __future__ import annotations

from typing import Any

from crispml.domain import LineageNode, ModelVersion
from crispml.errors import NotFound
from crispml.ports import UnitOfWork


def lineage(uow: UnitOfWork, ref: str) -> list[LineageNode]:
    """The chain from a model (or dataset) back to its raw source, newest first."""
    chain: list[LineageNode] = []
    dataset_id: str | None
    model = None if ref.startswith("ds-") else _model_or_none(uow, ref)
    if model is None:
        dataset_id = uow.datasets.get(ref).id
    else:
        chain.append(
            LineageNode(
                "model",
                model.id,
                model.ref,
                {
                    "algorithm": model.algorithm,
                    "params": model.params,
                    "class_weight": model.class_weight,
                    "frames": list(model.frames),
                    "artifact_sha256": model.artifact_sha256,
                    "aliases": list(model.aliases),
                    "created_by": model.created_by,
                    "created_at": model.created_at.isoformat(),
                },
            )
        )
        trigger = uow.retrain.trigger_of(model.id)
        if trigger is not None:  # trained by a retraining trigger: the condition and figures that fired it
            chain.append(LineageNode("trigger", trigger.id, f"{trigger.id}: {trigger.condition}", {
                "kind": trigger.kind, "condition": trigger.condition, "figures": trigger.figures,
                "job": trigger.job_id, "fired_at": trigger.fired_at.isoformat(), "fired_by": trigger.fired_by,
            }))  # fmt: skip
        dataset_id = model.dataset_id
    while dataset_id is not None:
        dataset = uow.datasets.get(dataset_id)
        chain.append(
            LineageNode(
                "dataset",
                dataset.id,
                f"{dataset.name}/{dataset.version} ({dataset.stage})",
                {
                    "sha256": dataset.sha256,
                    "rows": dataset.rows,
                    "params": {k: v for k, v in dataset.params.items() if k != "pipeline"},
                    "created_by": dataset.created_by,
                    "created_at": dataset.created_at.isoformat(),
                },
            )
        )
        if dataset.parent_id is None:
            # A dataset read from the shared data pool names the pool's version and the filter applied.
            origin: dict[str, Any] = {k: dataset.params[k] for k in ("pool", "pool_filter") if k in dataset.params}
            chain.append(LineageNode("source", dataset.source_sha256 or "", dataset.source, origin))
        dataset_id = dataset.parent_id
    return chain


def _model_or_none(uow: UnitOfWork, ref: str) -> ModelVersion | None:
    try:
        return uow.models.get(ref)
    except NotFound:
        if "@" in ref or ref.startswith("mv-"):  # only a model is spelled so: no dataset to fall back to
            raise
        return None
