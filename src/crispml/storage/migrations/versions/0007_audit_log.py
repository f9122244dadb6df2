"""audit log: the hash-chained audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 22:00:00

Model versions that exist already are adopted into the chain, one "model.adopt" event each recording
the artifact (and twin) its row names: a model row is bound to its artifact by its first audit event,
which scoring checks when it loads the model.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from crispml.storage.audit_chain import GENESIS, canonical, digest, event_hash

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

MIGRATION_PRINCIPAL = "crispml-migration"


def upgrade() -> None:
    events = op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("principal", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(300), nullable=False),
        sa.Column("request_id", sa.String(64)),
        sa.Column("before_json", sa.Text()),
        sa.Column("after_json", sa.Text()),
        sa.Column("before_sha256", sa.String(64)),
        sa.Column("after_sha256", sa.String(64)),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_events_at", "audit_events", ["at"])
    op.create_index("ix_audit_events_resource", "audit_events", ["resource"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    models = sa.table(
        "model_versions",
        sa.column("id"),
        sa.column("name"),
        sa.column("version"),
        sa.column("artifact_sha256"),
        sa.column("twin_sha256"),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.select(models).order_by(models.c.name, models.c.version)).mappings().all()
    at = datetime.now(UTC)
    previous = GENESIS
    adopted: list[dict[str, object]] = []
    for seq, row in enumerate(rows, start=1):
        after = canonical(
            {"id": row["id"], "artifact_sha256": row["artifact_sha256"], "twin_sha256": row["twin_sha256"]}
        )
        resource = f"model:{row['name']}/{row['version']}"
        after_sha256 = digest(after)
        prior = previous
        previous = event_hash(seq, at, MIGRATION_PRINCIPAL, "model.adopt", resource, None, None, after_sha256, previous)
        adopted.append(
            {
                "seq": seq,
                "at": at,
                "principal": MIGRATION_PRINCIPAL,
                "action": "model.adopt",
                "resource": resource,
                "request_id": None,
                "before_json": None,
                "after_json": after,
                "before_sha256": None,
                "after_sha256": after_sha256,
                "prev_hash": prior,
                "hash": previous,
            }
        )
    if adopted:
        op.bulk_insert(events, adopted)
    op.bulk_insert(head, [{"id": 1, "seq": len(adopted), "hash": previous}])


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_events_resource", table_name="audit_events")
    op.drop_index("ix_audit_events_at", table_name="audit_events")
    op.drop_table("audit_events")
