"""Training-side use cases: ingest, prepare, curate, train, report, persist, and lineage."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from crispml.domain import FRAME, RECORD_ID, Dataset, LineageNode, ModelVersion, SourceSpec, Stage
from crispml.domain.refs import ModelRef, check_name, parse_frames
from crispml.errors import InvalidInput, NotFound
from crispml.ports import Storage, UnitOfWork
from crispml.services.base import Progress, Service, new_id, no_progress, now
from crispml.services.dataset_versions import read_rows, store_child, store_dataset
from crispml.services.governance import lineage
from crispml.services.model_cache import ModelCache
from crispml.services.pool import DataPool
from crispml.services.visibility import writable_project
from crispml.steps import calibration as calibrating
from crispml.steps import drift, fast_path, model_codec, record_ids
from crispml.steps.algorithms import get_algorithm, resolve_params
from crispml.steps.curate import SCALED_ALGORITHMS
from crispml.steps.ingest import summarize
from crispml.steps.model_report import threshold_report, training_arrays, training_report
from crispml.steps.prepare import MissingPolicy, fit_preparation
from crispml.steps.privacy import Tag, check_tags, taggable, tagged
from crispml.steps.stage_frames import curated_frame, default_name, raw_frame
from crispml.steps.train import fit
from crispml.storage.audit import model_state
from crispml.storage.bounded_read import ReadLimits
from crispml.storage.sources import DEFAULT_TIMEOUT_S, read_source

DEFAULT_THRESHOLD = 0.5
PROFILE_SCORED_ROWS = 50_000
"""Training rows scored for the reference profile's score distribution (a seeded sample beyond that)."""


class LifecycleService(Service):
    def __init__(self, store: Storage, user: str, models: ModelCache, read_limits: ReadLimits | None = None,
                 source_timeout_s: float = DEFAULT_TIMEOUT_S, pool: DataPool | None = None) -> None:  # fmt: skip
        super().__init__(store, user)
        self.pool = pool or DataPool(None, "", {}, lambda: None, 2)
        """The shared data pool this environment reads through its filter (see `crispml.services.pool`)."""
        self._cache = models
        self.read_limits = read_limits or ReadLimits()
        """What a source may expand to (zip bombs end in TooLarge while they stream in)."""
        self._source_timeout_s = source_timeout_s

    # -- 1. DataIngestion -----------------------------------------------------------------------
    def ingest(
        self,
        source: SourceSpec,
        *,
        name: str | None = None,
        slices: int = 12,
        percent_data: float = 1.0,
        seed: int = 42,
        target: str = "Class",
        key: str | None = None,
        time_column: str | None = None,
        project: str | None = None,
        tags: dict[str, str] | None = None,
        progress: Progress = no_progress,
    ) -> Dataset:
        """Read a source into a new immutable raw dataset version cut into `slices` time frames, in
        `project` (default: the acting key's only project, else 'default').

        `source` is a file this process may read, or a registered source (`source.source`) with a table,
        a query (run read-only, with the statement timeout) or a path inside its folder. `tags` marks
        columns `personal`, `quasi-identifier` or `sensitive` (see `crispml.steps.privacy`).

        `source.pool` names a dataset of the shared data pool instead: it is read through this
        environment's filter and stored as it is framed there (`slices`, `percent_data`, `seed`,
        `target`, `key` and `time_column` do not apply; its tags come with it).
        """
        name = check_name(name or default_name(source), "dataset name")
        project = writable_project(project)
        if source.pool is not None:
            return self._ingest_pool(source.pool, name, project, progress)
        if slices < 1:
            raise InvalidInput("slices must be at least 1", field="slices")
        if not 0 < percent_data <= 1:
            raise InvalidInput(f"percent_data {percent_data} must lie in (0, 1]", field="percent_data")
        with self._perf("ingest") as span:
            span.dataset = name
            progress("read source", 0.0)
            registered = None
            if source.source is not None:
                with self.store.reading() as uow:
                    registered = uow.sources.get(source.source)
            raw = read_source(source, registered=registered, timeout_s=self._source_timeout_s, limits=self.read_limits)
            span.rows_in = len(raw.frame)
            progress("cut frames", 0.4)
            built = raw_frame(
                raw.frame,
                target=target,
                key=key,
                time_column=time_column,
                slices=slices,
                percent_data=percent_data,
                seed=seed,
            )
            progress("write dataset", 0.7)
            checked_tags = check_tags(tags or {}, taggable(list(built.rows.columns), key))
            dataset = store_dataset(
                self.store,
                self.user,
                built.rows,
                name=name,
                stage=Stage.RAW,
                target=target,
                frames=slices,
                params={
                    "slices": slices,
                    "percent_data": percent_data,
                    "seed": seed,
                    "key": key,
                    "time_column": time_column,
                    "frames_present": built.frames_present,
                    "pipeline": [],
                    "raw_features": built.features,
                    "record_id_scheme": record_ids.SCHEME,
                },
                report={"rows_source": span.rows_in, "stats": built.stats},
                source=raw.source,
                source_sha256=raw.source_sha256,
                parent=None,
                project=project,
                tags=checked_tags,
            )
            span.rows_out = dataset.rows
            progress("done", 1.0)
            return dataset

    def _ingest_pool(self, ref: str, name: str, project: str, progress: Progress) -> Dataset:
        """A pool dataset, filtered before anything is written, as a new raw version recording its origin."""
        with self._perf("ingest") as span:
            span.dataset = name
            progress("read pool", 0.0)
            read = self.pool.read(ref)
            pool, filtered = read.dataset, read.filtered
            span.rows_in = pool.rows
            progress("write dataset", 0.7)
            lineage = read.lineage(self.pool.where)
            frame = filtered.frame
            # Described afresh from the filtered rows: the pool's own summary would tell of dropped columns.
            features = [c for c in frame.columns if c not in (RECORD_ID, FRAME, pool.target)]
            stats = [asdict(s) for s in summarize(frame, [*features, pool.target])]
            params = {k: v for k, v in pool.params.items() if k not in ("pool", "pool_filter")}
            params |= {"raw_features": features, "frames_present": sorted(int(f) for f in frame[FRAME].unique())}
            dataset = store_dataset(
                self.store, self.user, frame, name=name, stage=Stage.RAW, target=pool.target,
                frames=pool.frames, params={**params, **lineage}, report={"rows_source": pool.rows, "stats": stats},
                source=f"pool {pool.name}/{pool.version}", source_sha256=pool.sha256, parent=None,
                project=project, tags=filtered.tags, audit=lineage,
            )  # fmt: skip
            span.rows_out = dataset.rows
            progress("done", 1.0)
            return dataset

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
