"""Model references (fraud@champion, fraud/3, mv-..., fraud) resolved to what scoring needs of a version.

What scoring reads of a version never changes, so it is read once per process. Which version a
reference names can change (an alias moves, a new version appears): a resolution is reused for at most
`REF_TTL_S`, and not at all once this process has changed models or aliases.

The fallback model: when the version an alias names cannot be loaded (its artifact is missing, fails its
hash check or cannot be decoded), the reference resolves to its name's `fallback` alias instead, with the
reason, and that redirect is cached like any resolution. A re-resolution (at most once per `REF_TTL_S`)
also stats the named version's file: a file rewritten since it was read is read and verified again, and
one known broken is not read again until its file changes. None of this runs per request.

An alias whose version is under the fallback's KPI floor (`crispml.services.kpi_floor`, worked out off the
request path) is redirected to the fallback the same way when it is resolved; a version named exactly, or
a name without a fallback, keeps answering.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from crispml.domain import ModelVersion
from crispml.domain.refs import ModelRef
from crispml.errors import IntegrityFailure, NotFound
from crispml.ports import Storage
from crispml.services.model_cache import ModelCache
from crispml.services.visibility import visible
from crispml.steps import model_codec, record_ids
from crispml.steps.pipeline import FeaturePipeline

FALLBACK = "fallback"
"""The alias of the version that answers for a name whose aliased version cannot be loaded."""
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


Answer = tuple[ScoringModel, str | None]
"""The version that answers a reference, and why it is the fallback (None: it is the version named)."""
Stamp = tuple[int, int, int] | None
"""A model file's (inode, size, mtime), None when it is missing (see `Storage.model_stamp`)."""


class ModelUnavailable(Exception):
    """The version a reference named cannot be loaded; `cause` is the error a caller gets without a fallback."""

    def __init__(self, model: ModelVersion, cause: Exception) -> None:
        super().__init__(str(cause))
        self.model = model
        self.cause = cause
        self.kind = (
            "integrity"
            if isinstance(cause, IntegrityFailure)
            else "missing"
            if isinstance(cause, NotFound)
            else "unreadable"
        )
        """A bounded label for metrics: integrity (hash check failed), missing, unreadable (codec error)."""
        self.reason = f"{self.kind}: {model.ref}: {cause}"[:500]
        """What a batch answered by the fallback records."""


class ModelRefs:
    """Resolves model references with a short-lived cache (see the module's docstring)."""

    def __init__(
        self, store: Storage, models: ModelCache, under_floor: Callable[[str], str | None] = lambda _id: None
    ) -> None:
        self._store = store
        self._models = models
        self._under_floor = under_floor
        """Why a model version (by id) is under the fallback's KPI floor, None if it is not; reads nothing."""
        self._versions: dict[str, ScoringModel] = {}
        """By model version id."""
        self._refs: dict[str, tuple[int, float, str, str | None]] = {}
        """References resolved lately: (registry version, reusable until, answering version id, fallback reason)."""
        self._stamps: dict[str, Stamp] = {}
        """Model files by sha256 as they were when first resolved (or last found rewritten)."""
        self._broken: dict[str, tuple[Stamp, ModelUnavailable]] = {}
        """Model files by sha256 that failed to load, with their stamp then: not read again until it changes."""
        self._degraded: dict[str, tuple[str, str]] = {}
        """References answered by their fallback: (the broken version's id, the reason)."""

    def resolve(self, model_ref: str) -> Answer:
        """The version that answers `model_ref`, reading the database only if it was not resolved lately.

        Raises `ModelUnavailable` when re-resolving finds the named version's file rewritten or known
        broken (`fall_back` then answers). Resolutions are shared by every principal: one outside the
        acting key's projects is looked up again, and the database (which sees only those projects)
        answers NotFound."""
        cached = self._refs.get(model_ref)
        if cached is not None and cached[0] == self._store.registry_version and time.monotonic() < cached[1]:
            known = self._versions.get(cached[2])
            if known is not None and visible(known.model.project):
                return known, cached[3]
        with self._store.reading() as uow:
            model_id = uow.models.id_of(model_ref)
        known = self._version(model_id)
        self._check_file(known.model)
        under = self._under_floor(model_id)
        if under is not None and (fallback := self._fallback_for(model_ref, known.model)) is not None:
            self._redirect(model_ref, known.model.id, fallback, under)
            return fallback, under
        self._refs[model_ref] = (self._store.registry_version, time.monotonic() + REF_TTL_S, model_id, None)
        self._degraded.pop(model_ref, None)
        return known, None

    def fresh(self, model_ref: str) -> Answer | None:
        """The version that answered `model_ref` lately, if that is still good; never reads anything."""
        cached = self._refs.get(model_ref)
        if cached is None or cached[0] != self._store.registry_version or time.monotonic() >= cached[1]:
            return None
        known = self._versions.get(cached[2])
        return (known, cached[3]) if known is not None and visible(known.model.project) else None

    def fall_back(self, model_ref: str, failed: ModelUnavailable) -> Answer:
        """The version of `model_ref`'s `fallback` alias, which answers for it from now on (the redirect is
        cached like a resolution), with the reason; raises `failed.cause` when `model_ref` names no alias, or
        its name has no fallback other than the failed version. When the version that failed was the fallback
        answering for a version under the KPI floor, that version answers again (no reason)."""
        self._broken[failed.model.artifact_sha256] = (self._stamp(failed.model), failed)
        # The same error object is raised again by every request while it lasts: without its traceback,
        # which would otherwise grow by each raise.
        cause = failed.cause.with_traceback(None)
        cached = self._refs.get(model_ref)
        if cached is not None and cached[2] == failed.model.id and (cached[3] or "").startswith("kpi_floor:"):
            for stale in (model_ref, str(ModelRef.of(str(ModelRef.parse(model_ref).name), alias=FALLBACK))):
                self._refs.pop(stale, None)
            self._degraded.pop(model_ref, None)
            try:
                return self.resolve(model_ref)  # its fallback is known broken now: the version named
            except ModelUnavailable:
                raise cause from None
        fallback = self._fallback_for(model_ref, failed.model)
        if fallback is None:
            raise cause
        self._redirect(model_ref, failed.model.id, fallback, failed.reason)
        return fallback, failed.reason

    def _fallback_for(self, model_ref: str, failed: ModelVersion) -> ScoringModel | None:
        """The version of `model_ref`'s `fallback` alias, if it names an alias other than that one and its
        fallback is another version that can be loaded."""
        parsed = ModelRef.parse(model_ref)
        if parsed.alias is None or parsed.alias == FALLBACK:
            return None
        try:
            fallback, _ = self.resolve(str(ModelRef.of(str(parsed.name), alias=FALLBACK)))
        except (NotFound, ModelUnavailable):
            return None
        return None if fallback.model.id == failed.id else fallback

    def _redirect(self, model_ref: str, failed_id: str, fallback: ScoringModel, reason: str) -> None:
        """Answer `model_ref` with `fallback` for `reason` (cached like a resolution)."""
        until = time.monotonic() + REF_TTL_S
        self._refs[model_ref] = (self._store.registry_version, until, fallback.model.id, reason)
        self._degraded[model_ref] = (failed_id, reason)

    def degraded(self) -> dict[str, str]:
        """References answered by their fallback, with the reason, as far as this process knows: a reference
        whose alias has moved since, or whose broken file has changed, is left out."""
        found = {}
        for model_ref, (broken_id, reason) in list(self._degraded.items()):
            try:
                with self._store.reading() as uow:
                    still = uow.models.id_of(model_ref) == broken_id
            except NotFound:
                still = False
            model = self._versions[broken_id].model  # resolved before it failed
            broken = self._broken.get(model.artifact_sha256)
            if reason.startswith("kpi_floor:"):
                holds = self._under_floor(broken_id) is not None
            else:
                holds = broken is not None and broken[0] == self._stamp(model)
            if still and holds:
                found[model_ref] = reason
            else:
                self._degraded.pop(model_ref, None)
        return found

    def _check_file(self, model: ModelVersion) -> None:
        """Raise `ModelUnavailable` if the version's file is known broken; forget a rewritten one from memory."""
        sha256 = model.artifact_sha256
        stamp = self._stamp(model)
        broken = self._broken.get(sha256)
        if broken is not None:
            if broken[0] == stamp:
                raise ModelUnavailable(model, broken[1].cause)
            self._broken.pop(sha256, None)
        if self._stamps.setdefault(sha256, stamp) != stamp:
            self._models.forget(sha256)
            self._stamps[sha256] = stamp

    def _stamp(self, model: ModelVersion) -> Stamp:
        return self._store.model_stamp(model.artifact_sha256, model_codec.SUFFIX[model.artifact_format])

    def _version(self, model_id: str) -> ScoringModel:
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
