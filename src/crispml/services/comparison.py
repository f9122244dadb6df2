"""`verify --compare champion,challenger`: two versions of a model on the records both scored and that
have labels, with DeLong's paired test (see `crispml.steps.compare`).

Each version's scores count whatever role they had: answered, canary or shadow. A challenger that only
ever scored in the shadow is compared on exactly the records its champion answered.
"""

from __future__ import annotations

from typing import Any

from crispml.domain import ModelVersion
from crispml.domain.refs import ModelRef, parse_frames
from crispml.errors import InvalidInput
from crispml.ports import UnitOfWork
from crispml.steps.compare import compare, paired


def compare_versions(
    uow: UnitOfWork, model_ref: str, pair: str, frames: str | list[int] | None, level: float
) -> dict[str, Any]:
    """The comparison `verify` adds for `pair` ("champion,challenger", "3,5" or "champion,4": aliases or
    versions of `model_ref`'s name): first and second version, their ROC AUCs on the shared labelled
    records, the difference (second minus first), the p-value and whether it is significant at `level`."""
    if not 0 < level < 1:
        raise InvalidInput(f"a significance level lies between 0 and 1, not {level}", field="level")
    name = ModelRef.parse(model_ref).name
    if name is None:
        raise InvalidInput("compare versions of a model named by its name, not by an id", field="model")
    parts = [p.strip() for p in pair.split(",")]
    if len(parts) != 2 or not all(parts):
        raise InvalidInput(f"compare two versions, e.g. champion,challenger or 3,5; not {pair!r}", field="compare")
    first, second = (uow.models.get(str(_ref(name, part))) for part in parts)
    chosen = None
    if frames is not None:
        chosen = parse_frames(frames, max(uow.datasets.get(v.dataset_id).frames for v in (first, second)))
    ledger = uow.ledger.joined_labels([first.id, second.id], chosen, shadows=True)
    ledger["model"] = ledger["model_version_id"]
    found = compare(paired(ledger, first.id, second.id), first.id, second.id, level)
    return {**found, "first": _named(parts[0], first), "second": _named(parts[1], second)}


def _ref(name: str, part: str) -> ModelRef:
    if part.isdigit():
        return ModelRef.of(name, version=int(part))
    ModelRef.parse(f"{name}@{part}")  # names what is wrong with a bad alias
    return ModelRef.of(name, alias=part)


def _named(part: str, version: ModelVersion) -> str:
    return version.ref if part.isdigit() else f"{part} ({version.ref})"
