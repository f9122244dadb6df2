"""Bulk inserts of the scoring path, below SQLAlchemy's execution machinery.

Scoring writes a batch row, a perf row and every score of every request, thousands a second. Three
things make that fast:
- `DriverInsert` runs an INSERT on the driver's cursor with SQLAlchemy's own bind processors, which
  cost those writes less than SQLAlchemy's statement execution did;
- on SQLite, rows go in by multi-row `VALUES` statements (`sqlite_insert_values`), not executemany:
  Python's sqlite3 lets go of the GIL around every step, so an executemany of 1,000 rows asks for it
  back 1,000 times. While the event loop or another request holds it, each ask can wait out a whole
  switch interval: 1,000 rows took 250 ms beside one busy thread, against 11 ms in two statements;
- on PostgreSQL, large sets go in by COPY (`scores_csv` builds its CSV in C++ by Arrow).
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Dialect, Table, insert
from sqlalchemy.exc import DBAPIError

from crispml.domain import NewScoreBatch

_SQLITE_ROWS_PER_STATEMENT = 500
"""Rows per multi-row VALUES statement: past a few hundred, larger statements gain nothing."""


def sqlite_insert_values(cursor: Any, head: str, width: int, rows: Sequence[Sequence[Any]]) -> int:
    """Insert `rows` (each `width` values) by `head` ("INSERT INTO t (a, b) VALUES") in as few
    statements as SQLite's variable limit allows; returns the rowid of the last row (0: no rows).

    The rows of one writer's statements get consecutive rowids, in order, as executemany's would.
    """
    limit = cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(_SQLITE_ROWS_PER_STATEMENT, limit // width))
    last = 0
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        cursor.execute(_values_sql(head, width, len(chunk)), list(chain.from_iterable(chunk)))
        last = int(cursor.lastrowid)
    return last


@lru_cache(maxsize=64)
def _values_sql(head: str, width: int, rows: int) -> str:
    row = f"({', '.join('?' * width)})"
    return f"{head} {', '.join([row] * rows)}"


class DriverInsert:
    """An INSERT of a table's rows run on the driver's cursor, values converted by SQLAlchemy's own
    bind processors; compiled once per dialect. SQLite takes the rows by `sqlite_insert_values`,
    others by one executemany (psycopg pipelines it)."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._compiled: dict[str, _CompiledInsert] = {}

    def __call__(self, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
        """Insert `rows` (column name to value)."""
        compiled = self._compiled.get(connection.dialect.name)
        if compiled is None:
            compiled = self._compiled[connection.dialect.name] = self._compile(connection.dialect)
        parameters = [compiled.parameters(values) for values in rows]
        driver = connection.dialect.loaded_dbapi
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            if connection.dialect.name == "sqlite":
                sqlite_insert_values(cursor, compiled.head, len(compiled.binds), parameters)
            else:
                cursor.executemany(compiled.sql, parameters)
        except driver.Error as exc:  # raised as SQLAlchemy raises it (IntegrityError, ...), as callers expect
            raise DBAPIError.instance(compiled.sql, parameters, exc, driver.Error, dialect=connection.dialect) from exc
        finally:
            cursor.close()

    def _compile(self, dialect: Dialect) -> _CompiledInsert:
        names = [c.name for c in self._table.columns if not (c.primary_key and c.autoincrement is True)]
        compiled = insert(self._table).compile(dialect=dialect, column_keys=names)
        positional = bool(compiled.positional)
        keys = list(compiled.positiontup or names) if positional else names
        convert = {c.name: c.type._cached_bind_processor(dialect) for c in self._table.columns}
        quote = dialect.identifier_preparer
        head = f"INSERT INTO {quote.format_table(self._table)} ({', '.join(map(quote.quote, keys))}) VALUES"
        return _CompiledInsert(str(compiled), head, [(k, convert[k]) for k in keys], keys, positional)


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    head: str
    """The statement up to VALUES, for multi-row statements (positional dialects only)."""
    binds: list[tuple[str, Callable[[Any], Any] | None]]
    keys: list[str]
    positional: bool

    def parameters(self, values: dict[str, Any]) -> Any:
        converted = [values[k] if convert is None else convert(values[k]) for k, convert in self.binds]
        return tuple(converted) if self.positional else dict(zip(self.keys, converted, strict=True))


def scores_csv(batches: Iterable[NewScoreBatch]) -> io.BytesIO:
    """The batches' score rows as CSV for COPY. Arrow writes it in C++ (ten times pandas' speed), floats
    as their shortest exact round-trip, nulls as empty fields."""
    table = pa.concat_tables(
        pa.table(
            {
                "batch_id": pa.repeat(new.batch.id, len(new.records)),
                "record_id": pa.array(new.records.record_ids, pa.string()),
                "frame": pa.array(new.records.frames, pa.int64()),
                "score": pa.array(new.records.scores, pa.float64()),
                "decision": pa.array(new.records.decisions, pa.int64()),
            }
        )
        for new in batches
    )
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False))
    return buffer
