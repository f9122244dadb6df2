"""failed logins: refused keys per key id and address, shared by every worker process

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 01:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "failed_logins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_failed_logins_who", "failed_logins", ["key_id", "address", "at"])


def downgrade() -> None:
    op.drop_index("ix_failed_logins_who", table_name="failed_logins")
    op.drop_table("failed_logins")
