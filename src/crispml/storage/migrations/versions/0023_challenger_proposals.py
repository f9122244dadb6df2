"""challenger proposals: a challenger the promotion policy proposes for a person's approval

Revision ID: 0023
Revises: 0016
Create Date: 2026-11-30 05:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "challenger_proposals",
        sa.Column("id", sa.String(length=32), primary_key=True),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("champion_id", sa.String(length=32), nullable=False),
        sa.Column("challenger_id", sa.String(length=32), nullable=False),
        sa.Column("champion", sa.String(length=80), nullable=False),
        sa.Column("challenger", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("proposed_by", sa.String(length=200), nullable=False),
        sa.Column("proposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.UniqueConstraint("model", "champion_id", "challenger_id", name="uq_challenger_proposals_pair"),
    )


def downgrade() -> None:
    op.drop_table("challenger_proposals")
