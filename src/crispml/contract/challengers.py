"""Requests and answers of the challenger promotion policy (one shape for REST, the CLI's --json and the
Python client)."""

from __future__ import annotations

import dataclasses
from typing import Any, Self

from pydantic import Field

from crispml.contract.answers import Answer, Timestamp
from crispml.contract.requests import Strict
from crispml.domain.policies import ChallengerDecision, ChallengerProposal


class ChallengerDecisionBody(Strict):
    """A person's word on a proposal: why (kept with the decision and its audit event)."""

    reason: str | None = Field(default=None, max_length=2000, description="Why it was approved or rejected.")


class ChallengerDecisionAnswer(Answer):
    """What the policy (or a person) decided for one model name, with the figures it decided on."""

    model: str
    outcome: str = Field(description="wait, kept, refused, promoted, proposed, approved or rejected.")
    reason: str
    champion: str | None
    challenger: str | None
    figures: dict[str, Any] = Field(description="Records, positives, both ROC AUCs, difference, p-value, interval.")
    gate: str | None = Field(description="The promotion gate that failed, when refused.")
    proposal: str | None
    recorded: bool = Field(description="Whether this call recorded the decision (audit, metric, webhook).")

    @classmethod
    def from_domain(cls, decision: ChallengerDecision) -> Self:
        return cls(**dataclasses.asdict(decision))


class ChallengerProposalAnswer(Answer):
    id: str
    model: str
    champion_id: str
    challenger_id: str
    champion: str
    challenger: str
    status: str = Field(description="open, approved, rejected or superseded.")
    figures: dict[str, Any]
    proposed_by: str
    proposed_at: Timestamp
    decided_by: str | None
    decided_at: Timestamp | None
    reason: str | None

    @classmethod
    def from_domain(cls, proposal: ChallengerProposal) -> Self:
        return cls(**dataclasses.asdict(proposal))
