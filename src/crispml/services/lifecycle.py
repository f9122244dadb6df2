"""Training-side use cases: prepare, curate, train, report, persist, and lineage (ingestion, the first
step, is `crispml.services.ingestion`)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

from crispml.domain import FRAME, Dataset, LineageNode, ModelVersion, Stage
from crispml.domain.refs import ModelRef, check_name, parse_frames
from crispml.errors import InvalidInput, NotFound
from crispml.ports import Storage, UnitOfWork
from crispml.services.base import Progress, Service, new_id, no_progress, now
from crispml.services.dataset_versions import read_rows, store_child
from crispml.services.governance import lineage
from crispml.services.model_cache import ModelCache
from crispml.steps import calibration as calibrating
from crispml.steps import drift, fast_path, model_codec
from crispml.steps.algorithms import get_algorithm, resolve_params
from crispml.steps.curate import SCALED_ALGORITHMS
from crispml.steps.model_report import threshold_report, training_arrays, training_report
from crispml.steps.prepare import MissingPolicy, fit_preparation
from crispml.steps.privacy import Tag, tagged
from crispml.steps.stage_frames import curated_frame
from crispml.steps.train import fit
from crispml.storage.audit import model_state

DEFAULT_THRESHOLD = 0.5
PROFILE_SCORED_ROWS = 50_000
"""Training rows scored for the reference profile's score distribution (a seeded sample beyond that)."""


class LifecycleService(Service):
    def __init__(self, store: Storage, user: str, models: ModelCache) -> None:
        super().__init__(store, user)
        self._cache = models

    # -- 2. DataPreparation ---------------------------------------------------------------------
    def prepare(
        self,
        dataset_ref: str,
        *,
        name: str | None = None,
        missing: str = "median",
        progress: Progress = no_progress,
    ) -> Dataset:
        """Algorithm-independent cleaning into a new prepared dataset, with a report of what changed."""
        try:
            policy = MissingPolicy(missing)
        except ValueError:
            choices = ", ".join(p.value for p in MissingPolicy)
            raise InvalidInput(f"unknown missing-value policy {missing!r}; choose {choices}", field="missing") from None
        with self._perf("prepare") as span:
            parent = self.get_dataset(dataset_ref)
            if parent.stage is not Stage.RAW:
                raise InvalidInput(f"dataset {parent.name}/{parent.version} is {parent.stage}; prepare a raw dataset")
            out_name = check_name(name or f"{parent.name}-prep", "dataset name")
            span.dataset = f"{parent.name}/{parent.version}"
            progress("load", 0.0)
            frame = self.store.read_frame(parent.sha256)
            span.rows_in = len(frame)
            progress("clean", 0.3)
            prepared, preparation, report = fit_preparation(frame, parent.features, parent.target, policy)
            progress("write dataset", 0.7)
            dataset = store_child(
                self.store,
                self.user,
                parent,
                prepared,
                name=out_name,
                stage=Stage.PREPARED,
                params={"missing": policy.value, "pipeline": [preparation.to_json()]},
                report=report.to_json(),
            )
            span.rows_out = dataset.rows
            progress("done", 1.0)
            return dataset

    # -- 3. DataCuration ------------------------------------------------------------------------
    def curate(
        self,
        dataset_ref: str,
        *,
        algorithm: str,
        frames: str | list[int] | None = None,
        name: str | None = None,
        progress: Progress = no_progress,
    ) -> Dataset:
        """Algorithm-specific transforms fitted on `frames` (default: the first half) and stored for scoring."""
        get_algorithm(algorithm)
        with self._perf("curate") as span:
            parent = self.get_dataset(dataset_ref)
            if parent.stage is Stage.CURATED:
                raise InvalidInput(f"dataset {parent.name}/{parent.version} is curated already; curate a prepared one")
            fit_frames = list(
                parse_frames(frames, parent.frames) if frames else range(1, max(1, parent.frames // 2) + 1)
            )
            out_name = check_name(name or f"{parent.name.removesuffix('-prep')}-cur", "dataset name")
            span.dataset = f"{parent.name}/{parent.version}"
            progress("load", 0.0)
            frame = self.store.read_frame(parent.sha256)
            span.rows_in = len(frame)
            progress("fit transform", 0.3)
            built = curated_frame(frame, parent.features, algorithm, fit_frames, f"{parent.name}/{parent.version}")
            progress("write dataset", 0.7)
            dataset = store_child(
                self.store,
                self.user,
                parent,
                built.rows,
                name=out_name,
                stage=Stage.CURATED,
                params={
                    "algorithm": algorithm,
                    "fit_frames": fit_frames,
                    "pipeline": [*parent.params.get("pipeline", []), built.curation.to_json()],
                },
                report=built.report,
            )
            span.rows_out = dataset.rows
            progress("done", 1.0)
            return dataset

    # -- 4. ModelTraining -----------------------------------------------------------------------
    def train(
        self,
        dataset_ref: str,
        *,
        algorithm: str,
        frames: str | list[int] | None,
        name: str,
        weight: float = 1.0,
        params: dict[str, Any] | None = None,
        seed: int = 42,
        threshold: float = DEFAULT_THRESHOLD,
        progress: Progress = no_progress,
    ) -> ModelVersion:
        """Train a new version of model `name`; parameters and frames are checked before any work."""
        check_name(name, "model name")
        spec = get_algorithm(algorithm)
        resolved = resolve_params(spec, params or {}, weight, seed)
        if not 0 < threshold < 1:
            raise InvalidInput(f"threshold {threshold} must lie strictly between 0 and 1", field="threshold")
        with self._perf("train") as span:
            dataset = self.get_dataset(dataset_ref)
            train_frames = parse_frames(frames, dataset.frames)
            _check_curation_fits(dataset, algorithm)
            span.dataset, span.model = f"{dataset.name}/{dataset.version}", name
            progress("load", 0.0)
            frame = self.store.read_frame(dataset.sha256)
            rows = frame[FRAME].isin(train_frames).to_numpy()
            if not rows.any():
                raise InvalidInput(f"frames {list(train_frames)} of {dataset.name} hold no rows", field="frames")
            features = dataset.features
            x, y = training_arrays(frame, features, dataset.target, _prepare_hint(dataset))
            span.rows_in = int(rows.sum())
            model = fit(spec, resolved, weight, seed, x[rows], y[rows], lambda f: progress("fit", 0.05 + 0.8 * f))
            progress("evaluate", 0.85)
            holdout = ~rows
            metrics = training_report(model, features, x, y, frame[FRAME].to_numpy(), holdout, threshold, seed)
            calibration = calibrating.holdout_calibration(model, x, y, holdout, seed)
            progress("compile", 0.93)
            twin = fast_path.compile_or_none(model, f"{name} ({algorithm})")
            progress("store model", 0.95)
            data, artifact_format = model_codec.encode(model)
            staged = self.store.stage_model(data, model_codec.SUFFIX[artifact_format])
            staged_twin = [self.store.stage_twin(twin.model)] if twin is not None else []
            staged_calibration = (
                [self.store.stage_model(calibrating.file_bytes(calibration), calibrating.SUFFIX)] if calibration else []
            )
            # The score distribution from a seeded sample: deciles need no more, and training stays quick.
            scored = drift.sample_rows(np.flatnonzero(rows), PROFILE_SCORED_ROWS, seed)
            reference = drift.profile(x[rows], features, model.predict_proba(x[scored])[:, 1], train_frames)
            staged_profile = self.store.stage_profile(json.dumps(reference, allow_nan=False).encode())
            with self.store.committing(staged, *staged_twin, *staged_calibration, staged_profile) as uow:
                version = ModelVersion(
                    id=new_id("mv"),
                    name=name,
                    version=0,  # the repository assigns the next free number
                    algorithm=algorithm,
                    params=resolved,
                    class_weight=weight,
                    threshold=threshold,
                    dataset_id=dataset.id,
                    frames=train_frames,
                    features=tuple(features),
                    pipeline=dataset.params.get("pipeline", []),
                    metrics={**metrics, "seed": seed, "calibration": calibrating.summary(calibration)},
                    artifact_sha256=staged.sha256,
                    artifact_format=artifact_format,
                    twin_sha256=staged_twin[0].sha256 if staged_twin else None,
                    registered=False,
                    aliases=(),
                    created_by=self.user,
                    created_at=now(),
                    project=dataset.project,  # a model belongs to its training data's project
                    profile_sha256=staged_profile.sha256,
                )
                version = uow.models.add(version)
                # Binds the row to its artifacts: scoring checks the row against this event at load.
                uow.audit.append(
                    action="model.train",
                    resource=f"model:{version.ref}",
                    after={
                        **model_state(version),
                        "algorithm": algorithm,
                        "dataset_id": dataset.id,
                        "calibration_sha256": calibration.sha256 if calibration else None,
                        "profile_sha256": version.profile_sha256,
                    },
                    principal=self.user,
                )
            self.store.registry_changed()
            span.model = version.ref
            span.rows_out = int(holdout.sum())
            progress("done", 1.0)
            return version

    # -- 5. ModelReport -------------------------------------------------------------------------
    def report(
        self, model_ref: str, *, frames: str | list[int] | None = None, threshold: float | None = None
    ) -> dict[str, Any]:
        """KPIs, curves and importances on frames not used for training (default) or on `frames`; the
        confusion, precision, recall and F1 at `threshold` (default: the model's)."""
        if threshold is not None and not 0 < threshold < 1:
            raise InvalidInput(f"threshold {threshold} must lie strictly between 0 and 1", field="threshold")
        with self._perf("report") as span:
            model = self.get_model(model_ref)
            span.model = model.ref
            head = {"model": model.ref, "algorithm": model.algorithm}
            at = model.threshold if threshold is None else threshold
            if frames is None and at == model.threshold:
                return {**head, **model.metrics}
            with self.store.reading() as uow:
                uow.audit.check_model(model)
            dataset = self.get_dataset(model.dataset_id)
            frame = self.store.read_frame(dataset.sha256)
            estimator = self._cache.estimator(model.artifact_sha256, model.artifact_format)
            x, y = training_arrays(frame, list(model.features), dataset.target, _prepare_hint(dataset))
            numbers = frame[FRAME].to_numpy()
            if frames is None:
                # The stored report at another threshold: its curves and importances do not move.
                rows = ~frame[FRAME].isin(model.frames).to_numpy()
                span.rows_in = int(rows.sum())
                return {**head, **model.metrics, **threshold_report(estimator, x, y, numbers, rows, at)}
            rows = frame[FRAME].isin(parse_frames(frames, dataset.frames)).to_numpy()
            span.rows_in = int(rows.sum())
            seed = int(model.metrics.get("seed", 42))
            return {**head, **training_report(estimator, list(model.features), x, y, numbers, rows, at, seed)}

    # -- 6. ModelPersist ------------------------------------------------------------------------
    def persist(self, model_ref: str, *, alias: str | None = "champion") -> ModelVersion:
        """Register a model version and point `alias` at it (moving the alias if it pointed elsewhere)."""
        if alias is not None:
            check_name(alias, "alias")
        with self._perf("persist") as span:
            with self.store.transaction() as uow:
                model = uow.models.get(model_ref)
                span.model = model.ref
                # Re-check the artifact before registering: a registered model must be loadable.
                uow.audit.check_model(model)
                self.store.model_bytes(model.artifact_sha256, model_codec.SUFFIX[model.artifact_format])
                uow.models.mark_registered(model.id)
                before = _alias_target(uow, model.name, alias) if alias is not None else None
                if alias is not None:
                    uow.models.set_alias(model, alias, self.user, now())
                # The events come after the writes: the audit log's head is the last lock taken, so
                # writers queued on it never hold a lock another writer waits for.
                if not model.registered:
                    uow.audit.append(
                        action="model.register",
                        resource=f"model:{model.ref}",
                        before={"registered": False},
                        after={"registered": True, **model_state(model)},
                        principal=self.user,
                    )
                if alias is not None:
                    uow.audit.append(
                        action="alias.set",
                        resource=f"alias:{ModelRef.of(model.name, alias=alias)}",
                        before=before,
                        after={"model": model.ref, "model_id": model.id, "artifact_sha256": model.artifact_sha256},
                        principal=self.user,
                    )
                registered = uow.models.get(model.id)
            self.store.registry_changed()
            return registered

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias; the version it pointed at stays registered."""
        with self._perf("persist") as span:
            span.model = str(ModelRef.of(name, alias=alias))
            with self.store.transaction() as uow:
                before = _alias_target(uow, name, alias)
                uow.models.delete_alias(name, alias)
                uow.audit.append(
                    action="alias.delete",
                    resource=f"alias:{ModelRef.of(name, alias=alias)}",
                    before=before,
                    principal=self.user,
                )
            self.store.registry_changed()

    # -- reads ----------------------------------------------------------------------------------
    def get_dataset(self, ref: str) -> Dataset:
        with self.store.reading() as uow:
            return uow.datasets.get(ref)

    def list_datasets(self, stage: Stage | None = None) -> list[Dataset]:
        with self.store.reading() as uow:
            return uow.datasets.list_versions(stage)

    def get_model(self, ref: str) -> ModelVersion:
        with self.store.reading() as uow:
            return uow.models.get(ref)

    def list_models(self, name: str | None = None) -> list[ModelVersion]:
        with self.store.reading() as uow:
            return uow.models.list_versions(name)

    def dataset_frame(self, ref: str) -> pd.DataFrame:
        """The rows of a dataset version, after checking their sha256; `Erased` if they were deleted.

        Reading columns tagged personal or sensitive is audited (`data.read`, naming the columns)."""
        dataset = self.get_dataset(ref)
        frame = read_rows(self.store, dataset)
        guarded = tagged(dataset.tags, Tag.PERSONAL) + tagged(dataset.tags, Tag.SENSITIVE)
        if guarded:
            with self.store.transaction() as uow:
                uow.audit.append(action="data.read", resource=f"dataset:{dataset.id}",
                                 after={"columns": guarded, "rows": len(frame)})  # fmt: skip
        return frame

    def lineage(self, ref: str) -> list[LineageNode]:
        """The chain from a model (or dataset) back to its raw source, newest first."""
        with self.store.reading() as uow:
            return lineage(uow, ref)


def _alias_target(uow: UnitOfWork, name: str, alias: str) -> dict[str, Any] | None:
    """What an alias points at, as its audit events record it (None: it does not exist)."""
    try:
        model = uow.models.get(str(ModelRef.of(name, alias=alias)))
    except NotFound:
        return None
    return {"model": model.ref, "model_id": model.id, "artifact_sha256": model.artifact_sha256}


def _check_curation_fits(dataset: Dataset, algorithm: str) -> None:
    curated_for = dataset.params.get("algorithm")
    if curated_for is None:
        return
    if (curated_for in SCALED_ALGORITHMS) != (algorithm in SCALED_ALGORITHMS):
        raise InvalidInput(
            f"dataset {dataset.name}/{dataset.version} was curated for {curated_for}, which transforms differently "
            f"from {algorithm}; curate its prepared parent for {algorithm} first",
            field="algorithm",
        )


def _prepare_hint(dataset: Dataset) -> str:
    return f"prepare {dataset.name}/{dataset.version} first"
