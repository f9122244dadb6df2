"""Storing a new dataset version: its Parquet file and its row, committed together."""

from __future__ import annotations

from typing import Any

import pandas as pd

from crispml.domain import Dataset, Stage
from crispml.errors import Conflict, Erased, NotFound
from crispml.ports import Storage, UnitOfWork
from crispml.services.base import new_id, now
from crispml.steps.privacy import carried_tags, taggable

_INHERITED = ("slices", "percent_data", "seed", "key", "time_column", "frames_present", "raw_features",
              "record_id_scheme")  # fmt: skip
"""Parameters of a raw dataset that every dataset derived from it carries on."""
_ACTIONS = {Stage.RAW: "dataset.ingest", Stage.PREPARED: "dataset.prepare", Stage.CURATED: "dataset.curate"}
"""The audit log's action for a new dataset of each stage."""


def store_child(
    store: Storage, user: str, parent: Dataset, frame: pd.DataFrame, *, name: str, stage: Stage,
    params: dict[str, Any], report: dict[str, Any], tags: dict[str, str] | None = None, action: str | None = None,
) -> Dataset:  # fmt: skip
    """Store a dataset derived from `parent`: same target, frames and source; its parameters carried on,
    and its column tags for the columns it still has (`tags`, if given, replaces them). `action` names
    the audit event (default: the stage's, e.g. dataset.prepare)."""
    return store_dataset(
        store,
        user,
        frame,
        name=name,
        stage=stage,
        target=parent.target,
        frames=parent.frames,
        params={**{k: parent.params[k] for k in _INHERITED if k in parent.params}, **params},
        report=report,
        source=parent.source,
        source_sha256=parent.source_sha256,
        parent=parent,
        project=parent.project,
        tags=carried_tags(
            parent.tags if tags is None else tags, taggable(list(frame.columns), parent.params.get("key"))
        ),
        action=action,
    )


def derived_version(
    user: str, parent: Dataset, frame: pd.DataFrame, sha256: str, *, params: dict[str, Any], report: dict[str, Any],
) -> Dataset:  # fmt: skip
    """A new version of `parent`'s name holding `frame` (already staged as `sha256`), for callers that
    write several versions in one transaction (an erasure); its tags are the parent's that still apply."""
    return Dataset(
        id=new_id("ds"),
        name=parent.name,
        version=0,  # the repository assigns the next free number
        stage=parent.stage,
        sha256=sha256,
        rows=len(frame),
        frames=parent.frames,
        target=parent.target,
        columns={c: str(frame[c].dtype) for c in frame.columns},
        params=params,
        report=report,
        source=parent.source,
        source_sha256=parent.source_sha256,
        parent_id=parent.id,
        created_by=user,
        created_at=now(),
        tags=carried_tags(parent.tags, taggable(list(frame.columns), parent.params.get("key"))),
        project=parent.project,
    )


def store_dataset(
    store: Storage,
    user: str,
    frame: pd.DataFrame,
    *,
    name: str,
    stage: Stage,
    target: str,
    frames: int,
    params: dict[str, Any],
    report: dict[str, Any],
    source: str,
    source_sha256: str | None,
    parent: Dataset | None,
    project: str = "default",
    tags: dict[str, str] | None = None,
    action: str | None = None,
    audit: dict[str, Any] | None = None,
) -> Dataset:
    """Store `frame` as the next version of dataset `name`; the file, the row and its audit event
    (`action`, default the stage's; `audit` adds to the state it records) commit together."""
    staged = store.stage_frame(frame)
    with store.committing(staged) as uow:
        _check_name_free(uow, name, stage)
        dataset = Dataset(
            id=new_id("ds"),
            name=name,
            version=0,  # the repository assigns the next free number
            stage=stage,
            sha256=staged.sha256,
            rows=len(frame),
            frames=frames,
            target=target,
            columns={c: str(frame[c].dtype) for c in frame.columns},
            params=params,
            report=report,
            source=source,
            source_sha256=source_sha256,
            parent_id=parent.id if parent else None,
            created_by=user,
            created_at=now(),
            project=project,
            tags=tags or {},
        )
        dataset = uow.datasets.add(dataset)
        uow.audit.append(
            action=action or _ACTIONS[stage],
            resource=f"dataset:{dataset.id}",
            after={**dataset_state(dataset), **(audit or {})},
            principal=user,
        )
        return dataset


def dataset_state(dataset: Dataset) -> dict[str, Any]:
    """What the audit log records of a dataset version."""
    return {"name": dataset.name, "version": dataset.version, "stage": dataset.stage.value, "sha256": dataset.sha256,
            "rows": dataset.rows, "parent_id": dataset.parent_id, "removed": dataset.removed}  # fmt: skip


def read_rows(store: Storage, dataset: Dataset) -> pd.DataFrame:
    """A version's rows; `Erased` if they were deleted (its file may live on for an identical live version)."""
    return store.read_frame(check_live(dataset).sha256)


def check_live(dataset: Dataset) -> Dataset:
    """`dataset`, unless its rows were deleted (erasure, retention): then `Erased` says so."""
    if dataset.removed is not None:
        raise Erased(
            f"dataset {dataset.name}/{dataset.version} was {dataset.removed} by {dataset.removed_by}: its rows are "
            "deleted, its metadata and lineage kept"
        )
    return dataset


def _check_name_free(uow: UnitOfWork, name: str, stage: Stage) -> None:
    """A dataset name holds versions of one stage, so 'ccf' never means raw here and curated there."""
    try:
        existing = uow.datasets.get(name)
    except NotFound:
        return
    if existing.stage is not stage:
        raise Conflict(
            f"dataset name {name!r} is taken by {existing.stage} datasets; choose another name for this {stage} one",
            field="name",
        )
