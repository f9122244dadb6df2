"""The audit log: events filtered by time, principal, action and resource, and the verification of its
hash chain (auditors and admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from crispml.api.deps import AuditDep
from crispml.api.problems import problem_responses
from crispml.contract import requests as req
from crispml.contract.answers import AuditEventAnswer, Page
from crispml.domain import AuditQuery

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
Filter = Annotated[str, Field(min_length=1, max_length=300)]


@router.get("", summary="Audit events, newest first", responses=problem_responses(422))
def audit(
    service: AuditDep,
    since: Annotated[datetime | None, Query(description="Events at or after this time (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Events before this time (ISO 8601).")] = None,
    principal: Annotated[Filter | None, Query(description="Events by this principal.")] = None,
    action: Annotated[Filter | None, Query(description="An action such as alias.set; 'alias.*' for a prefix.")] = None,
    resource: Annotated[
        Filter | None, Query(description="A resource such as alias:fraud@champion; 'model:fraud/*' for a prefix.")
    ] = None,
    limit: Annotated[req.Limit, Query()] = 100,
    offset: Annotated[req.Offset, Query()] = 0,
) -> Page[AuditEventAnswer]:
    query = AuditQuery(since, until, principal, action, resource)
    events, total = service.events(query, limit, offset)
    return Page[AuditEventAnswer].of([AuditEventAnswer.from_domain(e) for e in events], total, limit, offset)


class AuditVerification(BaseModel):
    checked: int = Field(description="Events in the chain, every one of them checked.")


@router.get("/verification", summary="Walk the audit log's hash chain", responses=problem_responses(500))
def verify_audit(service: AuditDep) -> AuditVerification:
    """The whole chain checked where the database is; a problem titled IntegrityFailure (500) names the
    first event edited, deleted or reordered."""
    return AuditVerification(checked=service.verify())
