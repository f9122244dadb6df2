"""Training-side use cases: ingest, prepare, curate, train, report, persist, and lineage."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from crispml.domain import (
    FRAME,
    RECORD_ID,
    Dataset,
    LineageNode,
    ModelVersion,
    SourceSpec,
    Stage,
    check_name,
    parse_frames,
)
from crispml.errors import Conflict, InvalidInput, NotFound
from crispml.services.base import Progress, Service, new_id, no_progress, now
from crispml.steps import evaluate, fast_path
from crispml.steps import ingest as ingest_step
from crispml.steps.algorithms import get_algorithm, resolve_params
from crispml.steps.curate import SCALED_ALGORITHMS, apply_curation, fit_curation
from crispml.steps.prepare import MissingPolicy, fit_preparation
from crispml.steps.train import fit
from crispml.storage.repositories import Repository
from crispml.storage.sources import read_source
from crispml.storage.store import MODELS

DEFAULT_THRESHOLD = 0.5


class LifecycleService(Service):
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
        progress: Progress = no_progress,
    ) -> Dataset:
        """Read a source into a new immutable raw dataset version cut into `slices` time frames."""
        name = check_name(name or _default_name(source), "dataset name")
        if slices < 1:
            raise InvalidInput("slices must be at least 1", field="slices")
        if not 0 < percent_data <= 1:
            raise InvalidInput(f"percent_data {percent_data} must lie in (0, 1]", field="percent_data")
        with self._perf("ingest") as span:
            span.dataset = name
            progress("read source", 0.0)
            raw = read_source(source)
            frame = raw.frame
            frame.columns = [str(c) for c in frame.columns]
            span.rows_in = len(frame)
            ingest_step.check_columns(frame, target, key, time_column)
            frame[target] = ingest_step.binary_target(frame[target])
            progress("cut frames", 0.4)
            frames = ingest_step.assign_frames(frame, slices, time_column)
            if key is None:
                ids = ingest_step.derive_record_ids(frame, exclude=[target])
            else:
                ids = ingest_step.key_record_ids(frame, key)
            payload = frame.drop(columns=[key]) if key else frame
            payload.insert(0, FRAME, frames)
            payload.insert(0, RECORD_ID, ids.to_numpy())
            payload = ingest_step.sample(payload, percent_data, seed)
            present = sorted(set(payload[FRAME].unique().tolist()))
            features = [c for c in payload.columns if c not in (RECORD_ID, FRAME, target)]
            stats = ingest_step.summarize(payload, [*features, target])
            progress("write dataset", 0.7)
            dataset = self._store_dataset(
                payload,
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
                    "frames_present": present,
                    "pipeline": [],
                    "raw_features": features,
                },
                report={"rows_source": span.rows_in, "stats": [asdict(s) for s in stats]},
                source=raw.source,
                source_sha256=raw.source_sha256,
                parent=None,
            )
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
            dataset = self._store_child(
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
            training = frame[frame[FRAME].isin(fit_frames)]
            if training.empty:
                raise InvalidInput(
                    f"frames {fit_frames} of {parent.name}/{parent.version} hold no rows", field="frames"
                )
            progress("fit transform", 0.3)
            curation = fit_curation(training, parent.features, algorithm, fit_frames)
            curated = frame.copy()
            curated[parent.features] = apply_curation(frame[parent.features], curation)
            progress("write dataset", 0.7)
            dataset = self._store_child(
                parent,
                curated,
                name=out_name,
                stage=Stage.CURATED,
                params={
                    "algorithm": algorithm,
                    "fit_frames": fit_frames,
                    "pipeline": [*parent.params.get("pipeline", []), curation.to_json()],
                },
                report={
                    "algorithm": algorithm,
                    "fit_frames": fit_frames,
                    "log1p": curation.log1p,
                    "standardised": sorted(curation.center),
                    "unchanged": algorithm not in SCALED_ALGORITHMS,
                },
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
            x, y = _training_arrays(frame, features, dataset)
            span.rows_in = int(rows.sum())
            model = fit(spec, resolved, weight, seed, x[rows], y[rows], lambda f: progress("fit", 0.05 + 0.8 * f))
            progress("evaluate", 0.85)
            holdout = ~rows
            metrics = _training_report(model, features, x, y, frame[FRAME].to_numpy(), holdout, threshold, seed)
            progress("compile", 0.93)
            twin = fast_path.compile_or_none(model, f"{name} ({algorithm})")
            progress("store model", 0.95)
            staged, artifact_format = self.store.stage_model(model)
            staged_twin = [self.store.stage_twin(twin.model)] if twin is not None else []
            with self.store.committing(staged, *staged_twin) as repo:
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
                    metrics={**metrics, "seed": seed},
                    artifact_sha256=staged.sha256,
                    artifact_format=artifact_format,
                    twin_sha256=staged_twin[0].sha256 if staged_twin else None,
                    registered=False,
                    aliases=(),
                    created_by=self.user,
                    created_at=now(),
                )
                version = repo.add_model(version)
            self.store.registry_changed()
            span.model = version.ref
            span.rows_out = int(holdout.sum())
            progress("done", 1.0)
            return version

    # -- 5. ModelReport -------------------------------------------------------------------------
    def report(self, model_ref: str, *, frames: str | list[int] | None = None) -> dict[str, Any]:
        """KPIs, curves and importances on frames not used for training (default) or on `frames`."""
        with self._perf("report") as span:
            model = self.get_model(model_ref)
            span.model = model.ref
            if frames is None:
                return {"model": model.ref, "algorithm": model.algorithm, **model.metrics}
            dataset = self.get_dataset(model.dataset_id)
            chosen = parse_frames(frames, dataset.frames)
            frame = self.store.read_frame(dataset.sha256)
            estimator = self.store.read_model(model.artifact_sha256, model.artifact_format)
            x, y = _training_arrays(frame, list(model.features), dataset)
            rows = frame[FRAME].isin(chosen).to_numpy()
            span.rows_in = int(rows.sum())
            metrics = _training_report(
                estimator,
                list(model.features),
                x,
                y,
                frame[FRAME].to_numpy(),
                rows,
                model.threshold,
                int(model.metrics.get("seed", 42)),
            )
            return {"model": model.ref, "algorithm": model.algorithm, **metrics}

    # -- 6. ModelPersist ------------------------------------------------------------------------
    def persist(self, model_ref: str, *, alias: str | None = "champion") -> ModelVersion:
        """Register a model version and point `alias` at it (moving the alias if it pointed elsewhere)."""
        if alias is not None:
            check_name(alias, "alias")
        with self._perf("persist") as span:
            with self.store.transaction() as repo:
                model = repo.get_model(model_ref)
                span.model = model.ref
                # Re-check the artifact before registering: a registered model must be loadable.
                self.store.artifacts.get_bytes(MODELS, model.artifact_sha256, _suffix(model.artifact_format))
                repo.mark_registered(model.id)
                if alias is not None:
                    repo.set_alias(model, alias, self.user, now())
                registered = repo.get_model(model.id)
            self.store.registry_changed()
            return registered

    def delete_alias(self, name: str, alias: str) -> None:
        """Remove an alias; the version it pointed at stays registered."""
        with self._perf("persist") as span:
            span.model = f"{name}@{alias}"
            with self.store.transaction() as repo:
                repo.delete_alias(name, alias)
            self.store.registry_changed()

    # -- reads ----------------------------------------------------------------------------------
    def get_dataset(self, ref: str) -> Dataset:
        with self.store.transaction() as repo:
            return repo.get_dataset(ref)

    def list_datasets(self, stage: Stage | None = None) -> list[Dataset]:
        with self.store.transaction() as repo:
            return repo.list_datasets(stage)

    def get_model(self, ref: str) -> ModelVersion:
        with self.store.transaction() as repo:
            return repo.get_model(ref)

    def list_models(self, name: str | None = None) -> list[ModelVersion]:
        with self.store.transaction() as repo:
            return repo.list_models(name)

    def dataset_frame(self, ref: str) -> pd.DataFrame:
        """The rows of a dataset version, after checking their sha256."""
        return self.store.read_frame(self.get_dataset(ref).sha256)

    def lineage(self, ref: str) -> list[LineageNode]:
        """The chain from a model (or dataset) back to its raw source, newest first."""
        chain: list[LineageNode] = []
        with self.store.transaction() as repo:
            dataset_id: str | None
            model = None if ref.startswith("ds-") else _model_or_none(repo, ref)
            if model is None:
                dataset_id = repo.get_dataset(ref).id
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
                dataset_id = model.dataset_id
            while dataset_id is not None:
                dataset = repo.get_dataset(dataset_id)
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
                    chain.append(LineageNode("source", dataset.source_sha256 or "", dataset.source, {}))
                dataset_id = dataset.parent_id
        return chain

    # -- helpers --------------------------------------------------------------------------------
    def _store_child(
        self, parent: Dataset, frame: pd.DataFrame, *, name: str, stage: Stage, params: dict[str, Any],
        report: dict[str, Any],
    ) -> Dataset:  # fmt: skip
        """Store a dataset derived from `parent`: same target, frames and source; its parameters carried on."""
        return self._store_dataset(
            frame,
            name=name,
            stage=stage,
            target=parent.target,
            frames=parent.frames,
            params={**_inherited(parent), **params},
            report=report,
            source=parent.source,
            source_sha256=parent.source_sha256,
            parent=parent,
        )

    def _store_dataset(
        self,
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
    ) -> Dataset:
        staged = self.store.stage_frame(frame)
        with self.store.committing(staged) as repo:
            _check_name_free(repo, name, stage)
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
                created_by=self.user,
                created_at=now(),
            )
            dataset = repo.add_dataset(dataset)
        return dataset


def _check_name_free(repo: Repository, name: str, stage: Stage) -> None:
    """A dataset name holds versions of one stage, so 'ccf' never means raw here and curated there."""
    try:
        existing = repo.get_dataset(name)
    except NotFound:
        return
    if existing.stage is not stage:
        raise Conflict(
            f"dataset name {name!r} is taken by {existing.stage} datasets; choose another name for this {stage} one",
            field="name",
        )


def _default_name(source: SourceSpec) -> str:
    if source.path:
        from pathlib import Path

        stem = Path(source.path).name.split(".")[0]
        cleaned = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in stem)
        return cleaned if cleaned[:1].isalpha() else f"d{cleaned}"
    return (source.table or "query").split(".")[-1]


def _inherited(parent: Dataset) -> dict[str, Any]:
    keep = ("slices", "percent_data", "seed", "key", "time_column", "frames_present", "raw_features")
    return {k: parent.params[k] for k in keep if k in parent.params}


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


def _training_arrays(frame: pd.DataFrame, features: list[str], dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Features and target as arrays; gaps or text (possible in a raw dataset) are refused by name."""
    hint = f"prepare {dataset.name}/{dataset.version} first"
    target = frame[dataset.target]
    if target.isna().any():
        raise InvalidInput(
            f"target column {dataset.target!r} has {int(target.isna().sum())} missing values; {hint}",
            field=dataset.target,
        )
    for column in features:
        values = frame[column]
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            raise InvalidInput(f"column {column!r} is not numeric; {hint}", field=column)
        if values.isna().any():
            raise InvalidInput(f"column {column!r} has {int(values.isna().sum())} missing values; {hint}", field=column)
    return frame[features].to_numpy(dtype=np.float64), target.to_numpy(dtype=np.int64)


def _training_report(
    model: Any,
    features: list[str],
    x: np.ndarray,
    y: np.ndarray,
    frame_numbers: np.ndarray,
    rows: np.ndarray,
    threshold: float,
    seed: int,
) -> dict[str, Any]:
    """KPIs overall and per frame on `rows`, with curves and importances."""
    if not rows.any():
        return {"frames": [], "overall": None, "per_frame": {}, "curves": {}, "importance": {}}
    score = model.predict_proba(x[rows])[:, 1]
    truth, numbers = y[rows], frame_numbers[rows]
    per_frame = {
        str(int(f)): evaluate.kpis(truth[numbers == f], score[numbers == f], threshold) for f in np.unique(numbers)
    }
    return {
        "frames": sorted(int(f) for f in np.unique(numbers)),
        "overall": evaluate.kpis(truth, score, threshold),
        "per_frame": per_frame,
        "curves": evaluate.curves(truth, score),
        "importance": evaluate.feature_importance(model, features, x[rows], truth, seed),
    }


def _suffix(artifact_format: str) -> str:
    from crispml.storage.model_codec import SUFFIX

    return SUFFIX[artifact_format]


def _model_or_none(repo: Any, ref: str) -> ModelVersion | None:
    try:
        model: ModelVersion = repo.get_model(ref)
    except NotFound:
        return None
    return model
