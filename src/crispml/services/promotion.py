"""Promotion between environments: a model version exported as one signed bundle and imported elsewhere.

`export` writes the version, its artifacts (checked against their sha256), its report, the pipeline file
it came from (if a pipeline trained it), its lineage (the dataset chain's metadata, not its rows) and its
provenance into a bundle signed with the promotion key (see `crispml.steps.bundle`). `import_bundle`
checks the signature and every file's sha256 before it writes anything, then writes the version, its
lineage rows (metadata only: the rows stay in the source environment, marked `imported`), its provenance
and its artifacts in one transaction. With an alias, this environment's gates (settings
`promotion_gates`) then decide whether the alias moves; a refused promotion keeps the imported version
(its provenance is the record of what was tried) and leaves the alias where it was. `promote` is both
halves over HTTP: export here, import at the named target.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from crispml.contract.promotion import PromotionGates, PromotionTarget
from crispml.domain import Dataset, ModelVersion, Stage
from crispml.domain.refs import ModelRef, check_name
from crispml.errors import Conflict, CrispmlError, GateFailed, InvalidInput, NotFound
from crispml.ports import Storage, UnitOfWork
from crispml.services.base import Service, now
from crispml.services.lifecycle import LifecycleService
from crispml.services.model_cache import ModelCache
from crispml.services.promotion_gates import check_gates, realized
from crispml.services.promotion_transport import send_bundle
from crispml.steps import model_codec
from crispml.steps.bundle import OpenedBundle, build_bundle, open_bundle
from crispml.storage.audit import model_state

IMPORTED = "imported"
"""The `removed` mark of a lineage dataset row imported with a model: its metadata is here, its rows are not."""
Sender = Callable[[PromotionTarget, bytes, str | None], dict[str, Any]]


class PromotionService(Service):
    def __init__(
        self,
        store: Storage,
        user: str,
        lifecycle: LifecycleService,
        models: ModelCache,
        *,
        environment: str,
        key: bytes | None,
        targets: dict[str, PromotionTarget],
        gates: PromotionGates | None,
        send: Sender = send_bundle,
    ) -> None:
        super().__init__(store, user)
        self.lifecycle, self._models = lifecycle, models
        self.environment = environment
        self._key, self.targets, self.gates, self._send = key, targets, gates, send

    def _signing_key(self) -> bytes:
        if self._key is None:
            raise InvalidInput("no promotion key is configured: set CRISPML_PROMOTION_KEY (the same in every "
                               "environment)", field="CRISPML_PROMOTION_KEY")  # fmt: skip
        return self._key

    # -- export ---------------------------------------------------------------------------------
    def export(self, model_ref: str) -> tuple[bytes, dict[str, Any]]:
        """The signed bundle of a model version, and what it holds (model, sha256, environment)."""
        key = self._signing_key()
        with self._perf("export") as span, self.store.reading() as uow:
            model = uow.models.get(model_ref)
            span.model = model.ref
            uow.audit.check_model(model)
            chain = _dataset_chain(uow, model.dataset_id)
            provenance = uow.imports.get(model.id)
            pipeline_file = (provenance or {}).get("manifest", {}).get("pipeline_file") or _pipeline_file(uow, model)
        suffix = model_codec.SUFFIX[model.artifact_format]
        files = {f"model{suffix}": self.store.model_bytes(model.artifact_sha256, suffix)}
        if model.twin_sha256 is not None:
            files["twin.onnx"] = self.store.model_bytes(model.twin_sha256, ".onnx")
        history = list((provenance or {}).get("manifest", {}).get("history", []))
        history.append({"environment": self.environment, "model": model.ref, "at": now().isoformat()})
        manifest = {
            "source_environment": self.environment,
            "model": _plain(model),
            "report": model.metrics,
            "lineage": [_plain(d) for d in chain],
            "pipeline_file": pipeline_file,
            "history": history,
            "exported_by": self.user,
        }
        bundle = build_bundle(manifest, files, key)
        opened = open_bundle(bundle, key)  # its own check, and its sha256
        summary = {"model": model.ref, "bundle_sha256": opened.sha256, "environment": self.environment,
                   "bytes": len(bundle), "files": opened.manifest["files"]}  # fmt: skip
        with self.store.transaction() as uow:
            uow.audit.append(action="model.export", resource=f"model:{model.ref}", after=summary)
        return bundle, summary

    # -- import ---------------------------------------------------------------------------------
    def import_bundle(self, data: bytes, *, alias: str | None = None) -> dict[str, Any]:
        """Check a bundle, import its version (once) and, with `alias`, apply this environment's gates and move
        the alias (the old champion becomes `fallback`). GateFailed names the failed gate with its figures."""
        if alias is not None:
            check_name(alias, "alias")
        with self._perf("import") as span:
            try:
                opened = open_bundle(data, self._signing_key())
                model, chain = _checked_contents(opened)
                if alias is not None and self.gates is not None:
                    self._check_gate_data(self.gates)
            except CrispmlError as exc:
                with self.store.transaction() as uow:
                    uow.audit.append(action="bundle.refuse", resource=f"bundle:{hashlib.sha256(data).hexdigest()}",
                                     after={"reason": exc.message, "bytes": len(data),
                                            "environment": self.environment})  # fmt: skip
                raise
            imported, created = self._import(opened, model, chain)
            span.model = imported.ref
        answer: dict[str, Any] = {
            "model": imported.ref,
            "model_id": imported.id,
            "imported": created,
            "source_environment": opened.manifest["source_environment"],
            "source_model": model.ref,
            "bundle_sha256": opened.sha256,
            "environment": self.environment,
        }
        if alias is None:
            return answer
        return {**answer, **self._promote_here(imported, alias, opened)}

    def _check_gate_data(self, gates: PromotionGates) -> None:
        """Refuse before anything is written when the gates name a dataset this environment lacks."""
        with self.store.reading() as uow:
            if _dataset_or_none(uow, gates.dataset) is None:
                message = f"CRISPML_PROMOTION_GATES names dataset {gates.dataset!r}, which {self.environment} lacks"
                raise InvalidInput(message, field="CRISPML_PROMOTION_GATES")

    def _import(self, opened: OpenedBundle, model: ModelVersion, chain: list[Dataset]) -> tuple[ModelVersion, bool]:
        with self.store.reading() as uow:
            existing = _model_or_none(uow, model.id)
        if existing is not None:
            if existing.artifact_sha256 != model.artifact_sha256:
                raise Conflict(
                    f"model id {model.id} exists here as {existing.ref} with another artifact", field="bundle"
                )
            return existing, False  # imported before: nothing to write
        suffix = model_codec.SUFFIX[model.artifact_format]
        staged = [self.store.stage_model(opened.files[f"model{suffix}"], suffix)]
        if model.twin_sha256 is not None:
            staged.append(self.store.stage_twin(opened.files["twin.onnx"]))
        at = now()
        with self.store.committing(*staged) as uow:
            for dataset in reversed(chain):  # the raw source first: each row's parent exists before it
                if _dataset_or_none(uow, dataset.id) is None:
                    uow.datasets.add(self._lineage_row(dataset, opened.manifest["source_environment"], at))
            added = uow.models.add(dataclasses.replace(model, aliases=(), registered=False))
            provenance = {
                "source_environment": opened.manifest["source_environment"],
                "source_ref": model.ref,
                "bundle_sha256": opened.sha256,
                "key_id": opened.key_id,
                "manifest": opened.manifest,
            }
            uow.imports.add(added.id, provenance, self.user, at)
            # Binds the row to its artifacts, as training does (scoring checks the row against it).
            uow.audit.append(action="model.import", resource=f"model:{added.ref}", after={
                **model_state(added), "source_environment": provenance["source_environment"],
                "source_ref": model.ref, "bundle_sha256": opened.sha256})  # fmt: skip
        self.store.registry_changed()
        return added, True

    def _lineage_row(self, dataset: Dataset, source: str, at: datetime) -> Dataset:
        """A lineage dataset as imported: metadata only, marked imported, named after its environment
        (`dev.ccf`) so that it never takes the place of this environment's own `ccf`."""
        name = dataset.name if dataset.removed == IMPORTED else f"{source}.{dataset.name}"
        return dataclasses.replace(dataset, name=name if len(name) <= 64 else dataset.name, removed=IMPORTED,
                                   removed_by=self.user, removed_at=at)  # fmt: skip

    def _promote_here(self, model: ModelVersion, alias: str, opened: OpenedBundle) -> dict[str, Any]:
        ref = str(ModelRef.of(model.name, alias=alias))
        with self.store.reading() as uow:
            holder = _model_or_none(uow, ref)
        passed: list[str] = []
        figures: dict[str, Any] = {}
        if self.gates is not None:
            figures["candidate"] = realized(self.store, self._models, model, self.gates)
            if holder is not None and holder.id != model.id:
                try:
                    figures["champion"] = realized(self.store, self._models, holder, self.gates)
                except CrispmlError as exc:  # a champion that cannot be scored sets no bar to replace it
                    figures["champion"] = {"model": holder.ref, "roc_auc": None, "error": exc.message}
            try:
                passed = check_gates(self.gates, figures["candidate"], figures.get("champion"))
            except GateFailed as exc:
                with self.store.transaction() as uow:
                    uow.audit.append(action="promotion.refuse", resource=f"alias:{ref}", after={
                        "model": model.ref, "gate": exc.field, "reason": exc.message, "figures": figures,
                        "bundle_sha256": opened.sha256})  # fmt: skip
                raise GateFailed(f"{model.ref} imported into {self.environment}, alias {alias} not moved: "
                                 f"{exc.message}", field=exc.field) from None  # fmt: skip
        if holder is not None and holder.id != model.id and alias == "champion":
            self.lifecycle.persist(holder.ref, alias="fallback")
        self.lifecycle.persist(model.ref, alias=alias)
        with self.store.transaction() as uow:
            uow.audit.append(action="promotion.accept", resource=f"alias:{ref}", after={
                "model": model.ref, "previous": None if holder is None else holder.ref, "gates": passed,
                "figures": figures, "bundle_sha256": opened.sha256})  # fmt: skip
        return {"alias": alias, "moved": True, "previous": None if holder is None else holder.ref,
                "gates": passed, "figures": figures}  # fmt: skip

    # -- promote --------------------------------------------------------------------------------
    def promote(self, model_ref: str, *, to: str, alias: str = "champion") -> dict[str, Any]:
        """Export `model_ref` and import it at the target environment `to`, whose gates decide whether `alias` moves."""
        target = self.targets.get(to)
        if target is None:
            known = ", ".join(sorted(self.targets)) or "none"
            raise InvalidInput(f"no promotion target {to!r} is configured (CRISPML_PROMOTION_TARGETS has: {known})",
                               field="to")  # fmt: skip
        check_name(alias, "alias")
        bundle, summary = self.export(model_ref)
        event = {**summary, "to": to, "url": target.url, "alias": alias}
        try:
            with self._perf("promote") as span:
                span.model = summary["model"]
                answer = self._send(target, bundle, alias)
        except CrispmlError as exc:
            with self.store.transaction() as uow:
                uow.audit.append(action="promotion.refused", resource=f"model:{summary['model']}",
                                 after={**event, "error": type(exc).__name__, "reason": exc.message})  # fmt: skip
            raise type(exc)(
                f"promotion of {summary['model']} to {to} refused: {exc.message}", field=exc.field
            ) from None
        with self.store.transaction() as uow:
            uow.audit.append(action="model.promote", resource=f"model:{summary['model']}",
                             after={**event, "target_model": answer.get("model")})  # fmt: skip
        return {**answer, "source_model": summary["model"], "to": to}

    # -- reads ----------------------------------------------------------------------------------
    def provenance(self, model_ref: str) -> dict[str, Any]:
        """Where a version came from: made here, or imported (source environment, version, bundle sha256, history)."""
        with self.store.reading() as uow:
            model = uow.models.get(model_ref)
            found = uow.imports.get(model.id)
        if found is None:
            return {"model": model.ref, "imported": False, "environment": self.environment}
        manifest = found["manifest"]
        return {
            "model": model.ref,
            "imported": True,
            "environment": self.environment,
            "source_environment": found["source_environment"],
            "source_ref": found["source_ref"],
            "bundle_sha256": found["bundle_sha256"],
            "key_id": found["key_id"],
            "imported_by": found["imported_by"],
            "imported_at": found["imported_at"].isoformat(),
            "history": manifest.get("history", []),
            "lineage": [f"{d['name']}/{d['version']} ({d['stage']})" for d in manifest.get("lineage", [])],
            "pipeline_file": manifest.get("pipeline_file"),
        }


def _dataset_chain(uow: UnitOfWork, dataset_id: str | None) -> list[Dataset]:
    chain = []
    while dataset_id is not None:
        dataset = uow.datasets.get(dataset_id)
        chain.append(dataset)
        dataset_id = dataset.parent_id
    return chain


def _pipeline_file(uow: UnitOfWork, model: ModelVersion) -> dict[str, Any] | None:
    """The pipeline file of the pipeline job that trained `model`, if one did."""
    for job in uow.jobs.list_jobs(limit=1000):
        steps = (job.result or {}).get("steps", {}) if job.kind == "pipeline" else {}
        if steps.get("train", {}).get("model") == model.ref:
            found: dict[str, Any] | None = job.params.get("pipeline")
            return found
    return None


def _model_or_none(uow: UnitOfWork, ref: str) -> ModelVersion | None:
    try:
        return uow.models.get(ref)
    except NotFound:
        return None


def _dataset_or_none(uow: UnitOfWork, ref: str) -> Dataset | None:
    try:
        return uow.datasets.get(ref)
    except NotFound:
        return None


def _plain(item: Any) -> dict[str, Any]:
    """A dataclass as JSON-able values (times as ISO text, enums as their value)."""
    out = {}
    for name, value in dataclasses.asdict(item).items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Stage):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        out[name] = value
    return out


def _checked_contents(opened: OpenedBundle) -> tuple[ModelVersion, list[Dataset]]:
    """The model and lineage a verified bundle declares, refused with InvalidInput if malformed."""
    manifest = opened.manifest
    try:
        raw = dict(manifest["model"])
        for name in ("created_at",):
            raw[name] = datetime.fromisoformat(raw[name])
        raw["frames"], raw["features"], raw["aliases"] = tuple(raw["frames"]), tuple(raw["features"]), ()
        model = ModelVersion(**raw)
        chain = []
        for each in manifest["lineage"]:
            row = dict(each)
            row["stage"] = Stage(row["stage"])
            row["created_at"] = datetime.fromisoformat(row["created_at"])
            row["removed_at"] = None if row.get("removed_at") is None else datetime.fromisoformat(row["removed_at"])
            chain.append(Dataset(**row))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"the bundle's manifest is malformed: {exc}", field="bundle") from None
    check_name(model.name, "model name")
    suffix = model_codec.SUFFIX.get(model.artifact_format)
    if suffix is None or f"model{suffix}" not in opened.files:
        raise InvalidInput(f"the bundle lacks the model file of format {model.artifact_format!r}", field="bundle")
    if opened.manifest["files"][f"model{suffix}"] != model.artifact_sha256:
        raise InvalidInput("the bundle's model file is not the artifact its model row names", field="bundle")
    if model.twin_sha256 is not None and opened.manifest["files"].get("twin.onnx") != model.twin_sha256:
        raise InvalidInput("the bundle's ONNX twin is not the one its model row names", field="bundle")
    if not chain or chain[0].id != model.dataset_id:
        raise InvalidInput("the bundle's lineage does not start at the model's training dataset", field="bundle")
    return model, chain
