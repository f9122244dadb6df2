"""Monitoring: drift of what a model version saw, against the reference profile of its training frames.

Two sources: a dataset's frames (dataset scoring has its inputs; by default the frames of the training
dataset the version was not trained on), or the input log of records scored online (`since`). Either
is transformed the way scoring transforms it, scored by the version, and compared feature by feature
and for the score, per frame or per hour, then overall (see `crispml.steps.drift`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from crispml.domain.refs import parse_frames
from crispml.errors import InvalidInput, NotFound
from crispml.observability import metrics
from crispml.ports import InputLog, Storage
from crispml.services.base import GroupedPerfService, now
from crispml.services.model_cache import ModelCache
from crispml.services.model_refs import ModelRefs, ModelUnavailable
from crispml.services.score_inputs import dataset_inputs
from crispml.steps import drift

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


@dataclass(frozen=True)
class Monitoring:
    """Drift per feature (and the score) per frame or hour, then overall ('all')."""

    model: str
    model_version: str
    source: str
    reference: dict[str, Any]
    levels: dict[str, Any]
    rows: list[dict[str, Any]]
    alarms: list[str]
    warnings: list[str]


def parse_since(since: str, at: datetime) -> datetime:
    """'24h', '30m', '7d', '2w', '90s' back from `at`, or an ISO 8601 time (UTC when it names no zone): the
    one reading of every `since` (monitoring, estimates)."""
    found = _DURATION.match(since)
    if found:
        try:
            return at - timedelta(seconds=float(found.group(1)) * _UNITS[found.group(2)])
        except OverflowError:
            raise InvalidInput(f"since {since!r} reaches back before the year 1", field="since") from None
    try:
        moment = datetime.fromisoformat(since.strip())
    except ValueError:
        raise InvalidInput(
            f"since {since!r} is neither a duration like 24h, 30m or 7d nor an ISO 8601 time", field="since"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class MonitoringService(GroupedPerfService):
    def __init__(
        self, store: Storage, user: str, models: ModelCache, inputs: InputLog | None, levels: drift.Levels
    ) -> None:
        super().__init__(store, user)
        self._cache = models
        self._refs = ModelRefs(store, models)
        self._inputs = inputs
        self._levels = levels

    def monitor(
        self,
        model_ref: str,
        *,
        frames: str | list[int] | None = None,
        since: str | None = None,
        dataset: str | None = None,
    ) -> Monitoring:
        """Drift of a model version's inputs and scores: a dataset's frames (default: the training
        dataset's frames it was not trained on), or records scored online `since` (24h, 30m, a time)."""
        if since is not None and (frames is not None or dataset is not None):
            raise InvalidInput("monitor either a dataset's frames or the records scored since a time, not both",
                               field="since")  # fmt: skip
        with self._perf("monitor") as span:
            try:
                scoring, _ = self._refs.resolve(model_ref)
            except ModelUnavailable as exc:
                raise exc.cause.with_traceback(None) from None
            model = scoring.model
            span.model = model.ref
            if model.profile_sha256 is None:
                raise NotFound(
                    f"model {model.ref} has no reference profile: it was trained before crispml kept one; "
                    "train a new version to monitor its drift"
                )
            reference = json.loads(self.store.profile_bytes(model.profile_sha256))
            names = list(model.features)
            if since is not None:
                features, scores, groups, source = self._online(model.id, model.ref, names, since)
            else:
                features, groups, source = self._frames(model, dataset, frames)
                scorer = self._cache.scorer(
                    model.artifact_sha256, model.artifact_format, len(features), model.twin_sha256
                )
                scores = scorer.positive(features, model.threshold)
            span.dataset, span.rows_in = source, len(features)
            key = "period" if since is not None else "frame"
            rows: list[dict[str, Any]] = []
            for group in [*sorted(set(groups)), "all"]:
                chosen = np.ones(len(groups), dtype=bool) if group == "all" else np.asarray(groups) == group
                for row in drift.compare(reference, features[chosen], names, scores[chosen], self._levels):
                    rows.append({"frame": None, "period": None, key: group, **row})
            overall = [r for r in rows if r[key] == "all"]
            metrics.drift_measured(model.name, model.version, overall)
            span.rows_out = len(rows)
            return Monitoring(
                model=model_ref,
                model_version=model.ref,
                source=source,
                reference={"rows": reference["rows"], "frames": reference["frames"]},
                levels={**vars(self._levels), "ignored": list(self._levels.ignored)},
                rows=rows,
                alarms=drift.worst(rows, "alarm"),
                warnings=drift.worst(rows, "warning"),
            )

    def _frames(
        self, model: Any, dataset: str | None, frames: str | list[int] | None
    ) -> tuple[np.ndarray, list[Any], str]:
        ref = dataset or model.dataset_id
        if frames is None:
            with self.store.reading() as uow:
                available = uow.datasets.get(ref).frames
            unseen = [f for f in parse_frames(None, available) if f not in model.frames or dataset is not None]
            if not unseen:
                raise InvalidInput(f"{model.ref} was trained on every frame: name --frames or --since", field="frames")
            frames = unseen
        inputs, source, _ = dataset_inputs(self.store, model, ref, frames)
        return inputs.features, [0 if f is None else int(f) for f in inputs.frames], source

    def _online(
        self, model_id: str, model_ref: str, names: list[str], since: str
    ) -> tuple[np.ndarray, np.ndarray, list[Any], str]:
        if self._inputs is None:
            raise InvalidInput("the input log is off (CRISPML_INPUT_LOG=false): nothing scored online was kept",
                               field="since")  # fmt: skip
        start = parse_since(since, now())
        self._inputs.flush()  # what this process scored a moment ago counts too
        log = self._inputs.read(model_id, start)
        if log.empty:
            raise NotFound(f"no records scored online by {model_ref} since {start.isoformat()} are in the input log")
        features = log.reindex(columns=names).to_numpy(dtype=np.float64)
        periods = [f"{t:%Y-%m-%dT%H}:00Z" for t in log["scored_at"]]
        return features, log["score"].to_numpy(dtype=np.float64), periods, f"records scored since {start.isoformat()}"
