"""audit environment: the deployment's environment (dev, qa, prod) recorded with every audit event

Revision ID: 0017
Revises: 0022
Create Date: 2026-11-30 05:00:00

Events written before it keep a null environment and hash as they did (see `crispml.storage.audit_chain`).
Follows 0022 (written beside it, chained at the merge).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("environment", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("environment")
