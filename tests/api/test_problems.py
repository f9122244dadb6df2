"""The error tree maps to HTTP in one table: every crispml error has a status and a problem+json body."""

from __future__ import annotations

import json

import pytest

from crispml import errors
from crispml.api.problems import AS_THEIR_BASE, NOT_OVER_HTTP, PROBLEM_JSON, STATUS, for_error

KINDS = [k for k in vars(errors).values() if isinstance(k, type) and issubclass(k, errors.CrispmlError)]


def test_every_error_a_server_can_raise_has_its_own_status() -> None:
    unmapped = {k.__name__ for k in KINDS if k is not errors.CrispmlError and k not in STATUS}
    assert unmapped == set(NOT_OVER_HTTP) | set(AS_THEIR_BASE)
    assert len({status for status, _slug in STATUS.values()}) == len(STATUS)


def test_an_error_answered_as_its_base_keeps_its_own_title() -> None:
    answer = for_error(errors.GateFailed("gate roc_auc >= 0.9 failed: roc_auc is 0.8", field="gates"))
    body = json.loads(answer.body)
    assert answer.status_code == 409 and body["title"] == "GateFailed" and body["type"] == "/problems/conflict"


@pytest.mark.parametrize("kind", list(STATUS), ids=lambda k: k.__name__)
def test_an_error_becomes_a_problem_naming_its_field(kind: type[errors.CrispmlError]) -> None:
    answer = for_error(kind("frame 13 is out of range 1..12", field="frames"))
    status, slug = STATUS[kind]
    body = json.loads(answer.body)
    assert answer.status_code == status and answer.media_type == PROBLEM_JSON
    assert body == {"type": f"/problems/{slug}", "title": kind.__name__, "status": status,
                    "detail": "frame 13 is out of range 1..12", "field": "frames"}  # fmt: skip


def test_an_error_without_a_row_is_a_plain_bad_request() -> None:
    body = json.loads(for_error(errors.CrispmlError("odd")).body)
    assert body["status"] == 400 and "field" not in body
