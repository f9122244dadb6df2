"""shadow windows: a shadow batch names every champion batch it scored beside

One shadow batch now serves every request the shadow gathered in a window, so `shadow_of` holds their
ids, space-separated (a batch written before holds one id, which reads the same way). SQLite copies the
table to change a column's type: the upgrade takes as long as copying every score batch row once.

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# As 0005 left it; a migration keeps its own copy so later changes cannot rewrite history. Both databases
# refuse to change (SQLite: to copy) a table a view reads, so the view is dropped and made again.
LEDGER_VIEW = """
CREATE VIEW score_ledger AS
SELECT s.id AS score_id, s.batch_id, s.record_id, b.model_version_id, s.frame, s.score, s.decision,
       b.threshold, b.created_at AS scored_at
FROM scores s JOIN score_batches b ON b.id = s.batch_id
"""


def upgrade() -> None:
    op.execute("DROP VIEW score_ledger")
    with op.batch_alter_table("score_batches") as batch:
        batch.alter_column("shadow_of", type_=sa.Text(), existing_type=sa.String(32), existing_nullable=True)
    op.execute(LEDGER_VIEW)


def downgrade() -> None:
    # A window's list does not fit the old column: keep its first champion batch.
    postgresql = op.get_bind().dialect.name == "postgresql"
    first = "split_part(shadow_of, ' ', 1)" if postgresql else "substr(shadow_of, 1, instr(shadow_of, ' ') - 1)"
    op.execute(f"UPDATE score_batches SET shadow_of = {first} WHERE shadow_of LIKE '% %'")
    op.execute("DROP VIEW score_ledger")
    with op.batch_alter_table("score_batches") as batch:
        batch.alter_column("shadow_of", type_=sa.String(32), existing_type=sa.Text(), existing_nullable=True)
    op.execute(LEDGER_VIEW)
