"""Retraining policies per model, their evaluator run once, the triggers fired; webhook targets and deliveries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from crispml.api.deps import ServicesDep
from crispml.api.problems import problem_responses
from crispml.contract import requests as req
from crispml.contract.answers import Page
from crispml.contract.retraining import (
    RetrainPolicyAnswer,
    RetrainPolicyBody,
    RetrainTriggerAnswer,
    WebhookAddBody,
    WebhookAnswer,
    WebhookDeliveryAnswer,
)

router = APIRouter(prefix="/api/v1", tags=["retraining"])
ModelName = Annotated[req.Name, Path(description="The model the policy retrains.")]


@router.get("/retrain/policies", summary="Retraining policies, one per model")
def retrain_policies(services: ServicesDep) -> Page[RetrainPolicyAnswer]:
    found = [RetrainPolicyAnswer.from_domain(p) for p in services.retrain.list_policies()]
    return Page[RetrainPolicyAnswer].of(found, len(found))


@router.get("/retrain/policies/{model}", summary="A model's retraining policy", responses=problem_responses(404, 422))
def retrain_policy(model: ModelName, services: ServicesDep) -> RetrainPolicyAnswer:
    return RetrainPolicyAnswer.from_domain(services.retrain.get_policy(model))


@router.put("/retrain/policies/{model}", summary="Set (or replace) a model's retraining policy (admin)",
            responses=problem_responses(422))  # fmt: skip
def set_retrain_policy(model: ModelName, body: RetrainPolicyBody, services: ServicesDep) -> RetrainPolicyAnswer:
    policy = services.retrain.set_policy(model, body.when, body.pipeline, every=body.every, cooldown=body.cooldown)
    return RetrainPolicyAnswer.from_domain(policy)


@router.delete("/retrain/policies/{model}", status_code=204, summary="Remove a model's retraining policy (admin)",
               responses=problem_responses(404, 422))  # fmt: skip
def remove_retrain_policy(model: ModelName, services: ServicesDep) -> Response:
    services.retrain.remove_policy(model)
    return Response(status_code=204)


@router.post("/retrain/check", summary="Check every policy once; the triggers fired (their jobs queued)")
def retrain_check(services: ServicesDep) -> Page[RetrainTriggerAnswer]:
    found = [RetrainTriggerAnswer.from_domain(t) for t in services.retrain.check()]
    return Page[RetrainTriggerAnswer].of(found, len(found))


@router.get("/retrain/triggers", summary="Retraining triggers, newest first", responses=problem_responses(422))
def retrain_triggers(services: ServicesDep, model: Annotated[req.Name | None, Query()] = None,
                     limit: Annotated[req.Limit, Query()] = 100) -> Page[RetrainTriggerAnswer]:  # fmt: skip
    found = [RetrainTriggerAnswer.from_domain(t) for t in services.retrain.triggers(model, limit)]
    return Page[RetrainTriggerAnswer].of(found, len(found))


@router.get("/webhooks", summary="Registered webhook targets (admin)")
def webhooks(services: ServicesDep) -> Page[WebhookAnswer]:
    found = [WebhookAnswer.from_domain(w) for w in services.webhooks.list_targets()]
    return Page[WebhookAnswer].of(found, len(found))


@router.post("/webhooks", status_code=201, summary="Register a webhook target (admin)",
             responses=problem_responses(422))  # fmt: skip
def add_webhook(body: WebhookAddBody, services: ServicesDep) -> WebhookAnswer:
    return WebhookAnswer.from_domain(services.webhooks.add(body.url, list(body.events), body.secret_env))


@router.delete("/webhooks/{target_id}", status_code=204, summary="Forget a webhook target (admin)",
               responses=problem_responses(404, 422))  # fmt: skip
def remove_webhook(target_id: Annotated[req.Id, Path()], services: ServicesDep) -> Response:
    services.webhooks.remove(target_id)
    return Response(status_code=204)


@router.get("/webhooks/deliveries", summary="Webhook deliveries, newest first: status, attempts, last error",
            responses=problem_responses(422))  # fmt: skip
def webhook_deliveries(services: ServicesDep, status: Annotated[str | None, Query()] = None,
                       limit: Annotated[req.Limit, Query()] = 100) -> Page[WebhookDeliveryAnswer]:  # fmt: skip
    found = [WebhookDeliveryAnswer.from_domain(d) for d in services.webhooks.deliveries(status, limit)]
    return Page[WebhookDeliveryAnswer].of(found, len(found))
