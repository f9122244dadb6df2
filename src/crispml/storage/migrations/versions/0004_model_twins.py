"""model twins: the ONNX twin each model version was compiled to at training time

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 19:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Models trained before this revision have no stored twin; scoring compiles one in memory for them.
    op.add_column("model_versions", sa.Column("twin_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("twin_sha256")
