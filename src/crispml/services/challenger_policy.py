"""The challenger promotion policy: when a name's `challenger` replaces its `champion` in this environment.

The policy (settings `challenger_policy`, one per environment) is checked by `crispml challenger check`
and by the server's retraining loop, right after the retraining policies. Champion and challenger are
compared on the records both scored that have labels (`compare_versions`, DeLong's paired test):

- fewer than `min_labelled` such records (or labels of one class only): **wait**;
- a ROC AUC gain under `margin`, or a p-value not under `significance`: **kept** (the champion stays);
- this environment's promotion gates (settings `promotion_gates`) fail: **refused**, naming the gate;
- else, mode `auto`: **promoted** (`champion` moves to the challenger, the old champion becomes
  `fallback`, the `challenger` alias goes); mode `propose`: **proposed**, and a person **approved** or
  **rejected** it later (`crispml challenger approve|reject MODEL`).

Each decision is an audit event (`challenger.<outcome>`, resource `challenger:NAME`), a count in
`crispml_challenger_decisions_total` and a webhook event of the same name. A wait, kept or refused
decision is recorded once per champion/challenger pair and outcome, not at every check. Of several
processes deciding the same pair only one acts: promoting is a conditional update of the champion alias
(it moves only from the version that was read), proposing an insert that one pair admits once, and
approving or rejecting a conditional update of an open proposal.
"""

from __future__ import annotations

import logging
from typing import Any

from crispml.contract.promotion import ChallengerPolicy, PromotionGates
from crispml.domain import AuditQuery, ModelVersion
from crispml.domain.policies import ChallengerDecision as Decision
from crispml.domain.policies import ChallengerProposal
from crispml.domain.refs import ModelRef, check_name
from crispml.errors import Conflict, CrispmlError, GateFailed, InvalidInput, NotFound
from crispml.observability import metrics
from crispml.ports import Storage, UnitOfWork
from crispml.services.base import Service, new_id, now
from crispml.services.comparison import compare_versions
from crispml.services.model_cache import ModelCache
from crispml.services.promotion_gates import check_gates, realized
from crispml.services.webhooks import enqueue

CHAMPION, CHALLENGER, FALLBACK = "champion", "challenger", "fallback"
OUTCOMES = ("wait", "kept", "refused", "promoted", "proposed", "approved", "rejected")
"""Every decision the policy (or a person, for a proposal) takes; `challenger.<outcome>` is its event."""
_ONCE_PER_PAIR = ("wait", "kept", "refused")
log = logging.getLogger("crispml.challenger")


class ChallengerPolicyService(Service):
    def __init__(self, store: Storage, user: str, models: ModelCache, *, environment: str,
                 policy: ChallengerPolicy | None, gates: PromotionGates | None) -> None:  # fmt: skip
        super().__init__(store, user)
        self._models, self.environment, self.policy, self.gates = models, environment, policy, gates

    # -- the policy's checks
    def check(self, model: str | None = None) -> list[Decision]:
        """Decide every name that has a challenger (or only `model`); InvalidInput when no policy is set."""
        policy = self.policy
        if policy is None:
            raise InvalidInput("no challenger policy is set in this environment: set CRISPML_CHALLENGER_POLICY, e.g. "
                               '\'{"min_labelled": 500, "margin": 0.01, "significance": 0.05, "mode": "propose"}\'',
                               field="CRISPML_CHALLENGER_POLICY")  # fmt: skip
        if model is not None:
            check_name(model, "model name")
            return [self._decide(policy, model)]
        with self.store.reading() as uow:
            names = sorted({name for name, alias, _v, _a in uow.models.aliased() if alias == CHALLENGER})
        decisions = []
        for name in names:
            try:
                decisions.append(self._decide(policy, name))
            except CrispmlError as exc:  # one model's trouble never stops the others' checks
                log.warning("challenger policy of %s not checked: %s", name, exc.message)
        return decisions

    def check_quietly(self) -> None:
        """`check` when a policy is set, logging instead of raising (the server's retraining loop)."""
        if self.policy is None:
            return
        try:
            self.check()
        except Exception:
            log.exception("challenger policy check failed; trying again at the next interval")

    def _decide(self, policy: ChallengerPolicy, name: str) -> Decision:
        with self.store.reading() as uow:
            champion = uow.models.get(str(ModelRef.of(name, alias=CHAMPION)))
            challenger = uow.models.get(str(ModelRef.of(name, alias=CHALLENGER)))
            pair: dict[str, Any] = {"champion": champion.ref, "challenger": challenger.ref}
            if champion.id == challenger.id:
                return Decision(name, "kept", "the challenger is the champion", **pair)
            proposal = uow.proposals.of_pair(name, champion.id, challenger.id)
            stale = [p for p in uow.proposals.list_proposals(name, "open", 100) if p != proposal]
            if proposal is None:
                found = compare_versions(uow, name, f"{champion.version},{challenger.version}", None,
                                         policy.significance)  # fmt: skip
        for old in stale:  # the champion or the challenger moved since: nobody can approve those any more
            self._close(old, "superseded", f"{name}'s champion or challenger changed since")
        if proposal is not None:  # decided once per pair: the proposal is the decision (or a person's)
            outcome = "proposed" if proposal.status == "open" else proposal.status
            return Decision(name, outcome, f"proposal {proposal.id} is {proposal.status}", **pair,
                            figures=proposal.figures, proposal=proposal.id)  # fmt: skip
        figures = _figures(found, policy, self.environment)
        decision = self._judge(policy, name, champion, challenger, figures)
        if decision.outcome in _ONCE_PER_PAIR:
            return self._record_once(decision)
        if policy.mode == "auto":
            return self._promote(decision, champion, challenger)
        return self._propose(decision, champion, challenger)

    def _judge(self, policy: ChallengerPolicy, name: str, champion: ModelVersion, challenger: ModelVersion,
               figures: dict[str, Any]) -> Decision:  # fmt: skip
        """The decision the figures call for: wait, kept or refused; else `passed` (promote or propose)."""
        pair: dict[str, Any] = {"champion": champion.ref, "challenger": challenger.ref, "figures": figures}
        records, first, second = figures["records"], figures["champion_roc_auc"], figures["challenger_roc_auc"]
        if records < policy.min_labelled:
            return Decision(name, "wait", f"{records} labelled records scored by both, {policy.min_labelled} "
                            "needed", **pair)  # fmt: skip
        if first is None or second is None:
            return Decision(name, "wait", f"the {records} labelled records are of one class only", **pair)
        gain, p_value = figures["difference"], figures["p_value"]
        versus = f"challenger ROC AUC {second:.4f} against the champion's {first:.4f}"
        if gain < policy.margin:
            return Decision(name, "kept", f"{versus}: a gain of {gain:+.4f}, under the margin {policy.margin:g}",
                            **pair)  # fmt: skip
        if not p_value < policy.significance:
            return Decision(name, "kept", f"{versus}: p = {p_value:.3g}, not under the significance "
                            f"{policy.significance:g}", **pair)  # fmt: skip
        if self.gates is not None:
            try:
                figures["gates"] = self._gates(self.gates, champion, challenger)
            except GateFailed as exc:
                return Decision(name, "refused", exc.message, **pair, gate=exc.field)
        return Decision(name, "passed", f"{versus}: a gain of {gain:+.4f}, p = {p_value:.3g}", **pair)

    def _gates(self, gates: PromotionGates, champion: ModelVersion, challenger: ModelVersion) -> list[str]:
        candidate = realized(self.store, self._models, challenger, gates)
        try:
            holder: dict[str, Any] | None = realized(self.store, self._models, champion, gates)
        except CrispmlError as exc:  # a champion that cannot be scored sets no bar to replace it
            holder = {"model": champion.ref, "roc_auc": None, "error": exc.message}
        return check_gates(gates, candidate, holder)

    # -- acting on a decision
    def _promote(self, decision: Decision, champion: ModelVersion, challenger: ModelVersion) -> Decision:
        promoted = _as(decision, "promoted", f"promoted: {decision.reason}", recorded=True)
        with self.store.transaction() as uow:
            uow.audit.check_model(challenger)
            if not _move_champion(uow, self.user, champion, challenger):
                moved = f"{champion.name}'s champion or challenger moved meanwhile (another process decided)"
                return _as(decision, "kept", f"{moved}; nothing done here")
            self._record(uow, promoted)
        self.store.registry_changed()
        metrics.challenger_decided(promoted.model, promoted.outcome)
        return promoted

    def _propose(self, decision: Decision, champion: ModelVersion, challenger: ModelVersion) -> Decision:
        proposal = ChallengerProposal(new_id("cp"), decision.model, champion.id, challenger.id, champion.ref,
                                      challenger.ref, "open", decision.figures, self.user, now())  # fmt: skip
        proposed = _as(
            decision, "proposed", f"proposed for approval: {decision.reason}", proposal=proposal.id, recorded=True
        )
        with self.store.transaction() as uow:
            if not uow.proposals.add(proposal):
                return _as(decision, "proposed", "proposed by another process meanwhile")
            self._record(uow, proposed)
        metrics.challenger_decided(proposed.model, proposed.outcome)
        return proposed

    # -- a person's decision on a proposal
    def proposals(
        self, model: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[ChallengerProposal]:
        """Proposals, newest first (of one model, of one status: open, approved, rejected, superseded)."""
        if status is not None and status not in ("open", "approved", "rejected", "superseded"):
            raise InvalidInput(f"status {status!r}: one of open, approved, rejected, superseded", field="status")
        with self.store.reading() as uow:
            return uow.proposals.list_proposals(model, status, limit)

    def approve(self, model: str, reason: str | None = None) -> Decision:
        """Approve `model`'s open proposal: its challenger becomes champion, the old champion the fallback.
        Conflict (nothing changes) when the champion or challenger moved since it was proposed."""
        check_name(model, "model name")
        with self.store.reading() as uow:
            proposal = uow.proposals.open_of(model)
            champion, challenger = uow.models.get(proposal.champion_id), uow.models.get(proposal.challenger_id)
        approved = Decision(model, "approved", f"approved by {self.user}" + (f": {reason}" if reason else ""),
                            champion.ref, challenger.ref, proposal.figures, proposal=proposal.id)  # fmt: skip
        with self.store.transaction() as uow:
            if not uow.proposals.decide(proposal.id, "approved", self.user, now(), reason):
                raise Conflict(f"proposal {proposal.id} was decided by someone else meanwhile", field="model")
            uow.audit.check_model(challenger)
            if not _move_champion(uow, self.user, champion, challenger):
                raise Conflict(
                    f"{model}'s champion or challenger moved since proposal {proposal.id} ({champion.ref} -> "
                    f"{challenger.ref}); check again to decide on the new pair",
                    field="model",
                )
            self._record(uow, approved)
        self.store.registry_changed()
        metrics.challenger_decided(model, "approved")
        return approved

    def reject(self, model: str, reason: str | None = None) -> Decision:
        """Reject `model`'s open proposal: the champion stays, and this pair is not proposed again."""
        check_name(model, "model name")
        with self.store.reading() as uow:
            proposal = uow.proposals.open_of(model)
        rejected = Decision(model, "rejected", f"rejected by {self.user}" + (f": {reason}" if reason else ""),
                            proposal.champion, proposal.challenger, proposal.figures, proposal=proposal.id)  # fmt: skip
        with self.store.transaction() as uow:
            if not uow.proposals.decide(proposal.id, "rejected", self.user, now(), reason):
                raise Conflict(f"proposal {proposal.id} was decided by someone else meanwhile", field="model")
            self._record(uow, rejected)
        metrics.challenger_decided(model, "rejected")
        return rejected

    # -- records
    def _close(self, proposal: ChallengerProposal, status: str, reason: str) -> None:
        with self.store.transaction() as uow:
            if uow.proposals.decide(proposal.id, status, self.user, now(), reason):
                uow.audit.append(action=f"challenger.proposal.{status}", resource=f"challenger:{proposal.model}",
                                 after={"proposal": proposal.id, "champion": proposal.champion,
                                        "challenger": proposal.challenger, "reason": reason})  # fmt: skip

    def _record_once(self, decision: Decision) -> Decision:
        """Record a wait, kept or refused decision unless the last one of this name said the same of this pair."""
        with self.store.transaction() as uow:
            last, _ = uow.audit.list_events(AuditQuery(action="challenger.*", resource=f"challenger:{decision.model}"),
                                            limit=1)  # fmt: skip
            said = last[0].after if last and isinstance(last[0].after, dict) else {}
            same = [said.get(k) for k in ("outcome", "champion", "challenger", "gate")]
            if same == [decision.outcome, decision.champion, decision.challenger, decision.gate]:
                return decision
            self._record(uow, decision)
        metrics.challenger_decided(decision.model, decision.outcome)
        return _as(decision, decision.outcome, decision.reason, recorded=True)

    def _record(self, uow: UnitOfWork, decision: Decision) -> None:
        event = {**decision.event(), "environment": self.environment}
        uow.audit.append(action=f"challenger.{decision.outcome}", resource=f"challenger:{decision.model}", after=event)
        enqueue(uow, f"challenger.{decision.outcome}", event)
        log.info("challenger of %s: %s (%s)", decision.model, decision.outcome, decision.reason,
                 extra={"model": decision.model, "outcome": decision.outcome})  # fmt: skip


def _move_champion(uow: UnitOfWork, user: str, champion: ModelVersion, challenger: ModelVersion) -> bool:
    """Move `champion` from `champion` to `challenger` (False, nothing written, if either alias points elsewhere
    now); the old champion becomes the fallback and the `challenger` alias goes. Audited as alias moves are."""
    at = now()
    name = champion.name
    current = _target(uow, name, CHALLENGER)
    if current is None or current["model_id"] != challenger.id:
        return False  # a newer challenger was set meanwhile: it is decided on at the next check
    if not uow.models.move_alias(challenger, CHAMPION, champion.id, user, at):
        return False
    fallback_before = _target(uow, name, FALLBACK)
    uow.models.set_alias(champion, FALLBACK, user, at)
    uow.models.delete_alias(name, CHALLENGER)
    for alias, before, after in (
        (CHAMPION, _state(champion), _state(challenger)),
        (FALLBACK, fallback_before, _state(champion)),
        (CHALLENGER, _state(challenger), None),
    ):
        uow.audit.append(action="alias.delete" if after is None else "alias.set",
                         resource=f"alias:{ModelRef.of(name, alias=alias)}", before=before, after=after)  # fmt: skip
    return True


def _target(uow: UnitOfWork, name: str, alias: str) -> dict[str, Any] | None:
    try:
        return _state(uow.models.get(str(ModelRef.of(name, alias=alias))))
    except NotFound:
        return None


def _state(model: ModelVersion) -> dict[str, Any]:
    return {"model": model.ref, "model_id": model.id, "artifact_sha256": model.artifact_sha256}


def _as(decision: Decision, outcome: str, reason: str, **changes: Any) -> Decision:
    return Decision(**{**vars(decision), "outcome": outcome, "reason": reason, **changes})


def _figures(found: dict[str, Any], policy: ChallengerPolicy, environment: str) -> dict[str, Any]:
    return {
        "records": found["records"],
        "positives": found["positives"],
        "champion_roc_auc": found["first_roc_auc"],
        "challenger_roc_auc": found["second_roc_auc"],
        "difference": found["difference"],
        "p_value": found["p_value"],
        "interval": found["interval"],
        "test": found["test"],
        "policy": {**policy.model_dump(), "environment": environment},
    }
