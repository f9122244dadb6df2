"""Requests and answers of retraining policies, their triggers, and webhooks (one shape for REST, the
CLI's --json and the Python client)."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, Self

from pydantic import Field

from crispml.contract.answers import Answer, Timestamp
from crispml.contract.requests import Strict
from crispml.domain.policies import RetrainPolicy, RetrainTrigger, WebhookDelivery, WebhookTarget

Condition = Annotated[str, Field(min_length=1, max_length=200, examples=["new-labels>=500", "realized-roc_auc<0.85"])]
Duration = Annotated[str, Field(min_length=2, max_length=32, pattern=r"^\s*\d+(\.\d+)?\s*[smhd]$",
                                description="A duration: 30s, 15m, 24h or 7d.")]  # fmt: skip


WebhookEvent = Literal[
    "retrain.triggered", "retrain.finished", "challenger.wait", "challenger.kept", "challenger.refused",
    "challenger.promoted", "challenger.proposed", "challenger.approved", "challenger.rejected",
]  # fmt: skip
"""What a webhook target may subscribe to (`crispml.services.webhooks.EVENTS`)."""


class RetrainPolicyBody(Strict):
    """A model's retraining policy: when it retrains (any condition holding fires a trigger) and how."""

    when: list[Condition] = Field(default_factory=list, max_length=20,
                                  description="new-labels>=N, realized-KPI<FLOOR (roc_auc, pr_auc, precision, "
                                  "recall, f1), estimated-KPI<FLOOR (roc_auc, precision, recall, f1), drift-alarm, "
                                  "drift-psi>LEVEL.")  # fmt: skip
    every: Duration | None = Field(default=None, description="Also retrain on this schedule (e.g. 24h).")
    cooldown: Duration | None = Field(default=None, description="The shortest time between two triggers (1h).")
    pipeline: str | dict[str, Any] = Field(description="The pipeline to run: a pipeline file's YAML or JSON text, "
                                           "or its mapping; its train.name is the model.")  # fmt: skip


class WebhookAddBody(Strict):
    """A webhook target to register (admin)."""

    url: str = Field(min_length=1, max_length=2048, description="An http:// or https:// URL.")
    events: list[WebhookEvent] = Field(min_length=1)
    secret_env: str = Field(min_length=1, max_length=128,
                            description="The server's environment variable holding the signing secret.")  # fmt: skip


class RetrainPolicyAnswer(Answer):
    model: str
    conditions: list[str]
    cooldown_s: float
    pipeline: dict[str, Any]
    revision: int
    last_fired_at: Timestamp | None
    created_by: str
    created_at: Timestamp
    updated_at: Timestamp

    @classmethod
    def from_domain(cls, policy: RetrainPolicy) -> Self:
        return cls(**dataclasses.asdict(policy))


class RetrainTriggerAnswer(Answer):
    id: str
    model: str
    kind: str
    condition: str
    figures: dict[str, Any]
    job_id: str
    status: str
    fired_by: str
    fired_at: Timestamp
    finished_at: Timestamp | None
    model_version_id: str | None
    challenger: str | None
    error: str | None

    @classmethod
    def from_domain(cls, trigger: RetrainTrigger) -> Self:
        return cls(**dataclasses.asdict(trigger))


class WebhookAnswer(Answer):
    """A registered target; its secret is never stored, only the variable's name."""

    id: str
    url: str
    events: list[str]
    secret_env: str
    created_by: str
    created_at: Timestamp

    @classmethod
    def from_domain(cls, target: WebhookTarget) -> Self:
        return cls(**dataclasses.asdict(target))


class WebhookDeliveryAnswer(Answer):
    id: str
    target_id: str
    url: str
    event: str
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: Timestamp
    created_at: Timestamp
    last_error: str | None
    delivered_at: Timestamp | None

    @classmethod
    def from_domain(cls, delivery: WebhookDelivery) -> Self:
        return cls(**dataclasses.asdict(delivery))
