"""challenger roles: a score batch records whether it was a shadow or a canary of the challenger

Revision ID: 0021
Revises: 0019
Create Date: 2026-11-30 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the batch answered its request as usual; 'shadow': scored beside the champion's batch
    # `shadow_of`, never answered; 'canary': the challenger answered instead of the champion.
    op.add_column("score_batches", sa.Column("role", sa.String(16), nullable=True))
    op.add_column("score_batches", sa.Column("shadow_of", sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column("score_batches", "shadow_of")
    op.drop_column("score_batches", "role")
