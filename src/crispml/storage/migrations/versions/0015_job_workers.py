"""job workers: which runner takes a job, the worker holding its lease, and how often it was claimed

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 02:20:00

Written against 0011 (the head on its branch); 0012-0014 come from other branches, and the merge
renumbers `down_revision` to the newest of them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("runner", sa.String(length=16), nullable=False, server_default="inprocess"))
    op.add_column("jobs", sa.Column("claimed_by", sa.String(length=200), nullable=True))
    op.add_column("jobs", sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
    op.create_index("ix_jobs_runner_status", "jobs", ["runner", "status"])


def downgrade() -> None:
    op.drop_index("ix_jobs_runner_status", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("attempts")
        batch.drop_column("claimed_by")
        batch.drop_column("runner")
