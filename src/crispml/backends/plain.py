"""What both backends answer: plain JSON-ready dicts, made from the contract's answer models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

J = dict[str, Any]

JOB_POLL_S = 0.5
"""How long one wait for a job's end lasts before its progress is reported again."""


def as_json(answer: BaseModel) -> J:
    return dict(answer.model_dump(mode="json"))
