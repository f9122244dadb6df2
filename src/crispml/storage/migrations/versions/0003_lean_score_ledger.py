"""Lean score ledger: per-batch facts move to score_batches, a view joins them back.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# One row per score with everything its batch shares, for auditors who query the database directly.
LEDGER_VIEW = """
CREATE VIEW score_ledger AS
SELECT s.id AS score_id, s.batch_id, s.record_id, b.model_version_id, s.frame, s.score, s.decision,
       b.threshold, b.created_at AS scored_at
FROM scores s JOIN score_batches b ON b.id = s.batch_id
"""


def upgrade() -> None:
    with op.batch_alter_table("score_batches") as batch_op:
        batch_op.add_column(sa.Column("threshold", sa.Float(), nullable=True))
        batch_op.create_index("ix_score_batches_model", ["model_version_id"])
    op.execute(
        "UPDATE score_batches SET threshold = "
        "(SELECT threshold FROM model_versions WHERE model_versions.id = score_batches.model_version_id)"
    )
    with op.batch_alter_table("score_batches") as batch_op:
        batch_op.alter_column("threshold", existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("scores") as batch_op:
        batch_op.drop_index("ix_scores_batch")
        batch_op.drop_index("ix_scores_version_frame")
        batch_op.drop_index("ix_scores_record")
        batch_op.drop_column("model_version_id")
        batch_op.drop_column("threshold")
        batch_op.drop_column("scored_at")
        batch_op.create_index("ix_scores_batch_frame", ["batch_id", "frame"])
    op.execute(LEDGER_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW score_ledger")
    with op.batch_alter_table("scores") as batch_op:
        batch_op.drop_index("ix_scores_batch_frame")
        batch_op.add_column(sa.Column("model_version_id", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("threshold", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("scored_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE scores SET model_version_id = b.model_version_id, threshold = b.threshold, scored_at = b.created_at "
        "FROM score_batches b WHERE b.id = scores.batch_id"
    )
    with op.batch_alter_table("scores") as batch_op:
        batch_op.create_index("ix_scores_batch", ["batch_id"])
        batch_op.create_index("ix_scores_version_frame", ["model_version_id", "frame"])
        batch_op.create_index("ix_scores_record", ["record_id"])
    with op.batch_alter_table("score_batches") as batch_op:
        batch_op.drop_index("ix_score_batches_model")
        batch_op.drop_column("threshold")
