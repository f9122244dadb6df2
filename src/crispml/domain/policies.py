"""The vocabulary of the policies that act on their own: retraining triggers, webhooks, and the
challenger promotion policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RetrainPolicy:
    """When a model retrains itself: its conditions (canonical texts such as `new-labels>=500`), the
    pipeline a trigger runs, and the shortest time between two triggers."""

    model: str
    conditions: tuple[str, ...]
    pipeline: dict[str, Any]
    cooldown_s: float
    revision: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    last_fired_at: datetime | None = None


@dataclass(frozen=True)
class RetrainTrigger:
    """One firing of a policy: the condition that held, its figures, the job it ran and what it made."""

    id: str
    model: str
    kind: str
    condition: str
    figures: dict[str, Any]
    job_id: str
    status: str
    """running, succeeded or failed."""
    fired_by: str
    fired_at: datetime
    finished_at: datetime | None = None
    model_version_id: str | None = None
    challenger: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class WebhookTarget:
    """A URL an admin registered to be told of events; its secret lives in the server's environment."""

    id: str
    url: str
    events: tuple[str, ...]
    secret_env: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class WebhookDelivery:
    id: str
    target_id: str
    url: str
    event: str
    payload: dict[str, Any]
    status: str
    """pending, delivered or failed."""
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class ChallengerProposal:
    """A challenger the promotion policy proposed to replace its champion, awaiting a person's approval."""

    id: str
    model: str
    champion_id: str
    challenger_id: str
    champion: str
    challenger: str
    status: str
    """open, approved, rejected, or superseded (the champion or challenger moved before anyone decided)."""
    figures: dict[str, Any]
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ChallengerDecision:
    """What the policy decided for one model name, and the figures it decided on."""

    model: str
    outcome: str
    reason: str
    champion: str | None = None
    challenger: str | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    gate: str | None = None
    proposal: str | None = None
    recorded: bool = False
    """Whether this call recorded it (audit, metric, webhook): False when an earlier check already had."""

    def event(self) -> dict[str, Any]:
        return {"model": self.model, "outcome": self.outcome, "reason": self.reason, "champion": self.champion,
                "challenger": self.challenger, "gate": self.gate, "proposal": self.proposal,
                "figures": self.figures}  # fmt: skip
