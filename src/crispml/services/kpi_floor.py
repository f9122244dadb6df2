"""The fallback's KPI floor: an alias whose version's realized KPI over its last labelled frames falls under
a floor is answered by its name's `fallback` alias (as one that cannot be loaded is, see `model_refs`).

The realized KPI is the verification's (the ledger joined with labels), worked out off the request path:
after every label import and every `CRISPML_FALLBACK_CHECK_S` in a server. Scoring only reads the verdicts
kept in memory (`under`, a dictionary look-up). A switch to the fallback and back is an audit event,
written once however many processes see it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from crispml.domain import AuditQuery
from crispml.domain.refs import ModelRef
from crispml.identity import acting_as
from crispml.ports import Storage
from crispml.services.base import Service
from crispml.services.model_refs import FALLBACK
from crispml.steps.kpi_floor import realized_kpi

log = logging.getLogger("crispml.fallback")

KPI_FLOOR = "kpi_floor"
"""The kind of a fallback reason (and the metrics' `reason` label) for a KPI under its floor."""


@dataclass(frozen=True)
class FloorPolicy:
    """Answer with the fallback while `kpi` over the last `frames` labelled frames is under `floor`
    (judged once those frames hold at least `min_labels` labels)."""

    kpi: str
    floor: float
    frames: int = 3
    min_labels: int = 50


class KpiFloor(Service):
    """The verdicts of the KPI floor, by model version, worked out by `check` (see the module's docstring)."""

    def __init__(self, store: Storage, user: str, policy: FloorPolicy | None) -> None:
        super().__init__(store, user)
        self.policy = policy
        self._under: dict[str, str] = {}
        """Model version id -> the fallback reason, for versions an alias names whose KPI is under the floor."""
        self._refs: dict[str, str] = {}
        """Alias references answered by their fallback because of the floor -> the reason."""
        self._lock = threading.Lock()

    def under(self, model_id: str) -> str | None:
        """Why this version is under the floor (a fallback reason), None if it is not; reads nothing."""
        return self._under.get(model_id)

    def degraded(self) -> dict[str, str]:
        """Alias references answered by their fallback because of the floor, with the reason."""
        return dict(self._refs)

    def check(self) -> dict[str, str]:
        """Work out the realized KPI of every aliased version whose name has a fallback, keep the verdicts
        for scoring and audit each switch; returns the alias references now under the floor."""
        policy = self.policy
        if policy is None:
            return {}
        with self._lock, acting_as(None):  # every project's aliases, whoever's labels set this off
            with self.store.reading() as uow:
                aliased = uow.models.aliased()
                fallbacks = {name: version for name, alias, version, _ in aliased if alias == FALLBACK}
                watched = {
                    str(ModelRef.of(name, alias=alias)): uow.models.get(f"{name}/{version}")
                    for name, alias, version, _ in aliased
                    if alias != FALLBACK and name in fallbacks and fallbacks[name] != version
                }
                ids = sorted({model.id for model in watched.values()})
                ledger = uow.ledger.joined_labels(ids, None) if ids else None
            under: dict[str, str] = {}
            for model in {m.id: m for m in watched.values()}.values():
                found = realized_kpi(
                    ledger[ledger["model_version_id"] == model.id],  # type: ignore[index]
                    policy.kpi,
                    policy.frames,
                    policy.min_labels,
                )
                if found is not None and found.value < policy.floor:
                    under[model.id] = (
                        f"{KPI_FLOOR}: {model.ref}: {found.kpi} {found.value:.2f} < {policy.floor:.2f} "
                        f"over frames {found.frames_text()} ({found.labelled} labels)"
                    )
            refs = {ref: under[model.id] for ref, model in watched.items() if model.id in under}
            switched = under.keys() != self._under.keys()
            self._under, self._refs = under, refs
            if switched:  # resolutions cached by scoring follow at once, not a second later
                self.store.registry_changed()
            aliases = {str(ModelRef.of(n, alias=a)): f"{n}/{v}" for n, a, v, _ in aliased if a != FALLBACK}
            self._audit_switches(refs, aliases, fallbacks)
            return dict(refs)

    def check_quietly(self) -> None:
        """`check`, logging instead of raising: a label import or a server's timer must not fail for it."""
        try:
            self.check()
        except Exception:
            log.warning("could not check the fallback's KPI floor", exc_info=True)

    def _audit_switches(self, refs: dict[str, str], aliases: dict[str, str], fallbacks: dict[str, int]) -> None:
        """One audit event per alias whose state changed since its last such event (any process's): under
        the floor (`refs`), or back over it (its version's KPI, or the version it names, changed)."""
        with self.store.transaction() as uow:
            for ref, version in sorted(aliases.items()):
                resource = f"alias:{ref}"
                last, _ = uow.audit.list_events(AuditQuery(action="fallback.*", resource=resource), limit=1)
                was_under = bool(last) and last[0].action == "fallback.kpi_floor"
                if (ref in refs) == was_under:
                    continue
                name = ref.partition("@")[0]
                answering = f"{name}/{fallbacks[name]}" if name in fallbacks else None
                after = {"model": version, "fallback": answering, "reason": refs.get(ref)}
                action = "fallback.kpi_floor" if ref in refs else "fallback.recovered"
                uow.audit.append(action=action, resource=resource, after=after, principal=self.user)
                log.warning("%s: %s", action, refs.get(ref) or f"{ref} ({version}) is back over the floor",
                            extra={"model": ref, "version": version})  # fmt: skip
