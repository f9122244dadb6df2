"""The challenger promotion policy: its check, the proposals it made, and a person's approval or rejection."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from crispml.api.deps import ServicesDep
from crispml.api.problems import problem_responses
from crispml.contract import requests as req
from crispml.contract.answers import Page
from crispml.contract.challengers import ChallengerDecisionAnswer, ChallengerDecisionBody, ChallengerProposalAnswer

router = APIRouter(prefix="/api/v1", tags=["challengers"])
ModelName = Annotated[req.Name, Path(description="The model whose challenger is decided on.")]
Status = Literal["open", "approved", "rejected", "superseded"]


@router.post("/challenger/check", summary="Apply this environment's challenger policy once (admin)",
             responses=problem_responses(404, 422))  # fmt: skip
def challenger_check(
    services: ServicesDep,
    model: Annotated[
        req.Name | None, Query(description="Only this model (default: every one with a challenger).")
    ] = None,
) -> Page[ChallengerDecisionAnswer]:
    found = [ChallengerDecisionAnswer.from_domain(d) for d in services.challenger_policy.check(model)]
    return Page[ChallengerDecisionAnswer].of(found, len(found))


@router.get("/challenger/proposals", summary="Challengers proposed for approval, newest first",
            responses=problem_responses(422))  # fmt: skip
def challenger_proposals(services: ServicesDep, model: Annotated[req.Name | None, Query()] = None,
                         status: Annotated[Status | None, Query()] = None,
                         limit: Annotated[req.Limit, Query()] = 100) -> Page[ChallengerProposalAnswer]:  # fmt: skip
    found = [
        ChallengerProposalAnswer.from_domain(p) for p in services.challenger_policy.proposals(model, status, limit)
    ]
    return Page[ChallengerProposalAnswer].of(found, len(found))


@router.post("/models/{name}/challenger/approve", summary="Approve the open proposal: the challenger becomes "
             "champion, the old champion the fallback (admin)", responses=problem_responses(404, 409, 422))  # fmt: skip
def approve_challenger(name: ModelName, services: ServicesDep,
                       body: ChallengerDecisionBody | None = None) -> ChallengerDecisionAnswer:  # fmt: skip
    reason = None if body is None else body.reason
    return ChallengerDecisionAnswer.from_domain(services.challenger_policy.approve(name, reason))


@router.post("/models/{name}/challenger/reject", summary="Reject the open proposal: the champion stays (admin)",
             responses=problem_responses(404, 409, 422))  # fmt: skip
def reject_challenger(name: ModelName, services: ServicesDep,
                      body: ChallengerDecisionBody | None = None) -> ChallengerDecisionAnswer:  # fmt: skip
    reason = None if body is None else body.reason
    return ChallengerDecisionAnswer.from_domain(services.challenger_policy.reject(name, reason))
