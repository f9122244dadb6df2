"""identities: API keys (salted hashes), projects on datasets and models

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 22:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_users",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("projects", sa.JSON(), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("key_salt", sa.String(length=64), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("key_id", name="uq_api_users_key_id"),
    )
    # Rows written before projects existed belong to the default project.
    for table in ("datasets", "model_versions"):
        op.add_column(table, sa.Column("project", sa.String(length=64), nullable=False, server_default="default"))


def downgrade() -> None:
    for table in ("model_versions", "datasets"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("project")
    op.drop_table("api_users")
