"""Promotion between environments: where a deployment sends bundles, and the gates it applies to those it receives."""

from __future__ import annotations

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
