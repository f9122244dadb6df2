"""Sending a promotion bundle to another crispml deployment's import route, its refusals as crispml errors."""

from __future__ import annotations

from typing import Any

import httpx

from crispml.contract.promotion import PromotionTarget
from crispml.errors import CrispmlError, Unavailable

IMPORT_PATH = "/api/v1/models/import"
TIMEOUT_S = 600.0
"""Importing checks every hash and, with gates, scores the target's verification frames: allow for it."""


def send_bundle(target: PromotionTarget, bundle: bytes, alias: str | None) -> dict[str, Any]:
    """POST `bundle` to the target's import route; its answer, or the crispml error its problem names."""
    headers = {"Content-Type": "application/zip"}
    if target.api_key is not None:
        headers["Authorization"] = f"Bearer {target.api_key.get_secret_value()}"
    params = {} if alias is None else {"alias": alias}
    url = target.url.rstrip("/") + IMPORT_PATH
    try:
        response = httpx.post(url, content=bundle, headers=headers, params=params, timeout=TIMEOUT_S)
    except httpx.TransportError as exc:
        raise Unavailable(f"cannot reach the promotion target at {target.url}: {exc or type(exc).__name__}",
                          field="to") from None  # fmt: skip
    if response.is_success:
        answer: dict[str, Any] = response.json()
        return answer
    try:
        problem = response.json()
    except ValueError:
        problem = {"title": "CrispmlError", "detail": response.text[:500]}
    kind = _error_kinds(CrispmlError).get(str(problem.get("title", "")), CrispmlError)
    raise kind(str(problem.get("detail") or f"HTTP {response.status_code}"), field=problem.get("field"))


def _error_kinds(kind: type[CrispmlError]) -> dict[str, type[CrispmlError]]:
    found = {kind.__name__: kind}
    for sub in kind.__subclasses__():
        found.update(_error_kinds(sub))
    return found
