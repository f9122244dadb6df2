"""data protection: column tags, retention, erasure

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: versions written before this revision have no tags and were never removed.
    op.add_column("datasets", sa.Column("tags", sa.JSON(), nullable=True))
    op.add_column("datasets", sa.Column("removed", sa.String(length=16), nullable=True))
    op.add_column("datasets", sa.Column("removed_by", sa.String(length=128), nullable=True))
    op.add_column("datasets", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "dataset_retention",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("dataset_retention")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("removed_at")
        batch.drop_column("removed_by")
        batch.drop_column("removed")
        batch.drop_column("tags")
