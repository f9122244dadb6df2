"""Promotion between environments: where a deployment sends bundles, and the gates it applies to those it receives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class PromotionTarget(BaseModel):
    """Another crispml deployment a promotion may go to: its base URL and an API key of an admin there."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, description="The target's base URL, e.g. https://crispml-qa.example.com.")
    api_key: SecretStr | None = Field(default=None, description="An API key of the target (role admin).")


class PromotionGates(BaseModel):
    """What a model promoted INTO this environment must show before its alias moves.

    The imported version is scored here on the frames `frames` of this environment's dataset `dataset`
    (its rows carry their labels): realized ROC AUC at least `min_roc_auc`, no worse than the current
    holder of the alias (the champion) by more than `max_drop`, on at least `min_labelled` labelled records.
    """

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(min_length=1, description="A dataset of this environment holding labelled records.")
    frames: str | None = Field(default=None, description="Its verification frames ('7-12'); default: all.")
    min_roc_auc: float | None = Field(default=None, ge=0, le=1)
    max_drop: float | None = Field(default=None, ge=0, le=1, description="Most ROC AUC below the champion's.")
    min_labelled: int = Field(default=1, ge=1, description="Fewest labelled records the figures rest on.")


class ChallengerPolicy(BaseModel):
    """When THIS environment's challenger replaces its champion (see `crispml.services.challenger_policy`).

    Both versions are compared on the records both scored that have labels (DeLong's paired test): the
    challenger must have at least `min_labelled` such records, a ROC AUC higher by at least `margin`, and a
    p-value under `significance`; then this environment's promotion gates (if any) must hold. `auto` moves
    `champion` to it at once; `propose` records a proposal a person approves or rejects.
    """

    model_config = ConfigDict(extra="forbid")

    min_labelled: int = Field(default=500, ge=1, description="Fewest labelled records both versions scored.")
    margin: float = Field(default=0.01, ge=0, le=1, description="Least ROC AUC gain over the champion.")
    significance: float = Field(default=0.05, gt=0, lt=1, description="The p-value the gain must be under.")
    mode: Literal["auto", "propose"] = Field(default="propose", description="Promote at once, or propose.")
