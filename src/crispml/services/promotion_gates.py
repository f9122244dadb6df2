"""The gates an environment applies to a version promoted into it: realized KPIs on its own labelled frames."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from crispml.contract.promotion import PromotionGates
from crispml.domain import ModelVersion
from crispml.domain.refs import parse_frames
from crispml.errors import GateFailed
from crispml.ports import Storage
from crispml.services.model_cache import ModelCache
from crispml.services.score_inputs import dataset_inputs


def realized(store: Storage, models: ModelCache, model: ModelVersion, gates: PromotionGates) -> dict[str, Any]:
    """`model`'s ROC AUC on the labelled records of the gates' dataset and frames, and how many there were."""
    with store.reading() as uow:
        dataset = uow.datasets.get(gates.dataset)
        uow.audit.check_model(model)
    inputs, source, _digest = dataset_inputs(store, model, dataset.id, gates.frames)
    chosen = parse_frames(gates.frames, dataset.frames)
    labels = (
        store.read_table(dataset.sha256, columns=[dataset.target], frames=chosen)
        .column(0)
        .to_numpy(zero_copy_only=False)
    )
    y = np.asarray(labels, dtype=float)
    labelled = ~np.isnan(y)
    estimator = models.estimator(model.artifact_sha256, model.artifact_format)
    scores = estimator.predict_proba(inputs.features[labelled])[:, 1]
    classes = set(np.unique(y[labelled]).tolist())
    auc = float(roc_auc_score(y[labelled], scores)) if len(classes) == 2 else None
    return {"model": model.ref, "on": source, "labelled": int(labelled.sum()), "roc_auc": auc}


def check_gates(gates: PromotionGates, candidate: dict[str, Any], champion: dict[str, Any] | None) -> list[str]:
    """The gates that held, as text; GateFailed naming the first that did not, with its figures."""
    passed = []
    labelled, auc = candidate["labelled"], candidate["roc_auc"]
    where = f"{candidate['model']} on {candidate['on']}"
    if labelled < gates.min_labelled:
        raise GateFailed(f"gate min_labelled {gates.min_labelled} failed: {where} has {labelled} labelled records",
                         field="min_labelled")  # fmt: skip
    passed.append(f"min_labelled {gates.min_labelled} ({labelled} labelled)")
    if auc is None and (gates.min_roc_auc is not None or gates.max_drop is not None):
        raise GateFailed(f"gate min_roc_auc failed: {where} has labels of one class only, no ROC AUC",
                         field="min_roc_auc")  # fmt: skip
    if gates.min_roc_auc is not None:
        if auc < gates.min_roc_auc:
            raise GateFailed(f"gate min_roc_auc {gates.min_roc_auc:g} failed: {where} has realized ROC AUC {auc:.4f}",
                             field="min_roc_auc")  # fmt: skip
        passed.append(f"min_roc_auc {gates.min_roc_auc:g} (roc_auc {auc:.4f})")
    if gates.max_drop is not None and champion is not None and champion["roc_auc"] is not None:
        floor = champion["roc_auc"] - gates.max_drop
        if auc < floor:
            raise GateFailed(
                f"gate max_drop {gates.max_drop:g} failed: {where} has realized ROC AUC {auc:.4f}, the champion "
                f"{champion['model']} {champion['roc_auc']:.4f} (at least {floor:.4f} needed)",
                field="max_drop",
            )
        passed.append(f"max_drop {gates.max_drop:g} (roc_auc {auc:.4f}, champion {champion['roc_auc']:.4f})")
    return passed
