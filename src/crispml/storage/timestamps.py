"""Timestamps that keep their time zone on SQLite as on PostgreSQL.

SQLite has no time zone type: SQLAlchemy's DateTime(timezone=True) stores the wall time there and
reads it back naive. `UtcDateTime` stores UTC and answers aware UTC datetimes on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A `DateTime(timezone=True)` column whose values go in as UTC and come out aware, in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # the usual case costs one identity check
            return value
        if value.tzinfo is None:
            raise ValueError(f"a naive timestamp {value.isoformat()} has no time zone; give it one")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # SQLite: the UTC wall time that went in
            return value.replace(tzinfo=UTC)
        return value if value.tzinfo is UTC else value.astimezone(UTC)
