"""fallback reason: a score batch answered by its name's fallback version records why

Revision ID: 0014
Revises: 0012
Create Date: 2026-11-30 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("score_batches", sa.Column("fallback_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35 (the view score_ledger does not read this one).
    op.drop_column("score_batches", "fallback_reason")
