"""request ids: the HTTP request a perf record measured and a job was submitted by

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: records and jobs from before this revision, and calls no HTTP request made, have none.
    op.add_column("perf_records", sa.Column("request_id", sa.String(length=64), nullable=True))
    op.add_column("jobs", sa.Column("request_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("request_id")
    with op.batch_alter_table("perf_records") as batch:
        batch.drop_column("request_id")
