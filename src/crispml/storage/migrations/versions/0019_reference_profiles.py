"""reference profiles: the training frames' profile each model version keeps for drift monitoring

Revision ID: 0019
Revises: 0017
Create Date: 2026-11-30 05:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Versions trained before this revision have no profile; monitoring them says so and asks for a retrain.
    op.add_column("model_versions", sa.Column("profile_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions") as batch:
        batch.drop_column("profile_sha256")
