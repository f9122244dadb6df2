"""retraining triggers and webhooks: policies per model, their triggers, webhook targets and deliveries

Revision ID: 0022
Revises: 0015
Create Date: 2026-11-30 05:10:00

Follows 0015.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0015"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "retrain_policies",
        sa.Column("model", sa.String(length=64), primary_key=True),
        sa.Column("conditions", sa.JSON(), nullable=False),
        sa.Column("pipeline", sa.JSON(), nullable=False),
        sa.Column("cooldown_s", sa.Float(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _at("last_fired_at", nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _at("created_at"),
        _at("updated_at"),
    )
    op.create_table(
        "retrain_triggers",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("condition", sa.String(length=200), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fired_by", sa.String(length=200), nullable=False),
        _at("fired_at"),
        _at("finished_at", nullable=True),
        sa.Column("model_version_id", sa.String(length=32), nullable=True),
        sa.Column("challenger", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    )
    op.create_index("ix_retrain_triggers_model", "retrain_triggers", ["model", "fired_at"])
    op.create_index("ix_retrain_triggers_version", "retrain_triggers", ["model_version_id"])
    op.create_table(
        "webhook_targets",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_env", sa.String(length=128), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _at("created_at"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("target_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _at("created_at"),
        _at("delivered_at", nullable=True),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_targets")
    op.drop_index("ix_retrain_triggers_version", table_name="retrain_triggers")
    op.drop_index("ix_retrain_triggers_model", table_name="retrain_triggers")
    op.drop_table("retrain_triggers")
    op.drop_table("retrain_policies")
