"""Data protection over HTTP: column tags, pseudonymization, anonymization, erasure, retention.

Each route is one service call; the permission table names them (action `privacy`: admin, steward).
"""

from __future__ import annotations

from fastapi import APIRouter

from crispml.api.deps import PrivacyDep
from crispml.api.problems import problem_responses
from crispml.contract import privacy as p
from crispml.contract.answers import DatasetAnswer

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


@router.post("/tags", summary="Set or clear column tags (personal, quasi-identifier, sensitive) of a dataset version",
             responses=problem_responses(404, 422))  # fmt: skip
def privacy_tags(body: p.TagsBody, privacy: PrivacyDep) -> DatasetAnswer:
    return DatasetAnswer.from_domain(privacy.tag(body.dataset, body.tags))


@router.post("/pseudonymizations", status_code=201, responses=problem_responses(404, 409, 410, 422),
             summary="A new dataset version with columns replaced by keyed HMAC-SHA256 pseudonyms")  # fmt: skip
def pseudonymize(body: p.PseudonymizeBody, privacy: PrivacyDep) -> DatasetAnswer:
    return DatasetAnswer.from_domain(privacy.pseudonymize(body.dataset, columns=body.columns, name=body.name))


@router.post("/anonymizations", status_code=201, responses=problem_responses(404, 409, 410, 422),
             summary="A new k-anonymous (optionally l-diverse) dataset version; refused below k")  # fmt: skip
def anonymize(body: p.AnonymizeBody, privacy: PrivacyDep) -> p.AnonymizationAnswer:
    result = privacy.anonymize(
        body.dataset, k=body.k, quasi_identifiers=body.quasi_identifiers, sensitive=body.sensitive,
        l_diversity=body.l_diversity, max_suppression=body.max_suppression, name=body.name,
    )  # fmt: skip
    return p.AnonymizationAnswer.of(result)


@router.post("/erasures", responses=problem_responses(422),
             summary="Erase a data subject from every dataset, label and score")  # fmt: skip
def erase(body: p.ErasureBody, privacy: PrivacyDep) -> p.ErasureAnswer:
    return p.ErasureAnswer.of(privacy.erase(body.column, body.value))


@router.get("/retention", summary="Retention periods by dataset name", responses=problem_responses(422))
def retention(privacy: PrivacyDep) -> p.RetentionAnswer:
    return p.RetentionAnswer(periods=privacy.retention())


@router.put("/retention", summary="Set (or, with days null, clear) the retention period of a dataset name",
            responses=problem_responses(404, 422))  # fmt: skip
def set_retention(body: p.RetentionBody, privacy: PrivacyDep) -> p.RetentionAnswer:
    return p.RetentionAnswer(periods=privacy.set_retention(body.name, body.days))


@router.post("/retention/apply", responses=problem_responses(422),
             summary="Delete the rows of versions past their retention period")  # fmt: skip
def apply_retention(body: p.ApplyRetentionBody, privacy: PrivacyDep) -> p.RetentionRunAnswer:
    return p.RetentionRunAnswer.of(privacy.apply_retention(force=body.force))
