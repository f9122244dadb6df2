"""Deleting a data subject's rows by record id from the tables keyed by it (scores, labels)."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, Table, delete

_CHUNK = 500
"""Ids per statement: well under SQLite's and PostgreSQL's limits on bound parameters."""


def delete_by_record_id(connection: Connection, table: Table, record_ids: Collection[str]) -> int:
    """Delete the rows of `table` whose record_id is one of `record_ids`; returns how many went."""
    ids = sorted(record_ids)
    removed = 0
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        removed += connection.execute(delete(table).where(table.c.record_id.in_(chunk))).rowcount
    return removed
