"""Model references (fraud@champion, fraud/3, mv-..., fraud) resolved to what scoring needs of a version.

What scoring reads of a version never changes, so it is read once per process. Which version a
reference names can change (an alias moves, a new version appears): a resolution is reused for at most
`REF_TTL_S`, and not at all once this process has changed models or aliases.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from crispml.domain import ModelVersion
from crispml.ports import Storage
from crispml.services.visibility import visible
from crispml.steps import record_ids
from crispml.steps.pipeline import FeaturePipeline

REF_TTL_S = 1.0
"""How long a resolved model reference (fraud@champion) is reused: an alias moved by another process
reaches this one's scoring within this time. The ledger records the exact version either way."""


@dataclass(frozen=True)
class ScoringModel:
    """A model version with what scoring needs beside it, worked out once."""

    model: ModelVersion
    key: str | None
    """The key column its training data was keyed by (None: record ids derived from content)."""
    id_scheme: str
    """How its training data derived record ids from content (see `crispml.steps.record_ids`)."""
    pipeline: FeaturePipeline
    """Its whole feature pipeline, as raw records go through it."""


class ModelRefs:
    """Resolves model references with a short-lived cache (see the module's docstring)."""

    def __init__(self, store: Storage) -> None:
        self._store = store
        self._versions: dict[str, ScoringModel] = {}
        """By model version id."""
        self._refs: dict[str, tuple[int, float, str]] = {}
        """References resolved lately: (registry version, reusable until, model version id)."""

    def resolve(self, model_ref: str) -> ScoringModel:
        """The version `model_ref` names, reading the database only if it was not resolved lately.

        Resolutions are shared by every principal: one outside the acting key's projects is looked up
        again, and the database (which sees only those projects) answers NotFound."""
        model_id = self._fresh_id(model_ref)
        cached = None if model_id is None else self._versions.get(model_id)
        if cached is not None and not visible(cached.model.project):
            model_id = None
        if model_id is None:
            with self._store.reading() as uow:
                model_id = uow.models.id_of(model_ref)
            self._refs[model_ref] = (self._store.registry_version, time.monotonic() + REF_TTL_S, model_id)
        known = self._versions.get(model_id)
        if known is None:
            with self._store.reading() as uow:
                model = uow.models.get(model_id)
                # Once per version and process: the row must name the artifact its audit event recorded.
                uow.audit.check_model(model)
                params = uow.datasets.get(model.dataset_id).params
            pipeline = FeaturePipeline(model.pipeline, model.features)
            known = ScoringModel(model, params.get("key"), record_ids.scheme_of(params), pipeline)
            self._versions[model_id] = known
        return known

    def fresh(self, model_ref: str) -> ScoringModel | None:
        """The version `model_ref` resolved to lately, if that is still good; never reads anything."""
        model_id = self._fresh_id(model_ref)
        known = None if model_id is None else self._versions.get(model_id)
        return known if known is not None and visible(known.model.project) else None

    def _fresh_id(self, model_ref: str) -> str | None:
        cached = self._refs.get(model_ref)
        if cached is None or cached[0] != self._store.registry_version or time.monotonic() >= cached[1]:
            return None
        return cached[2]
