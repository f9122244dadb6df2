"""Bulk inserts of the scoring path, below SQLAlchemy's execution machinery.

Scoring writes a batch row, a perf row and every score of every request, thousands a second. Three
things make that fast:
- `DriverInsert` runs an INSERT on the driver's cursor with SQLAlchemy's own bind processors, which
  cost those writes less than SQLAlchemy's statement execution did;
- on SQLite, rows go in by multi-row `VALUES` statements (`sqlite_insert_values`), not executemany:
  Python's sqlite3 lets go of the GIL around every step, so an executemany of 1,000 rows asks for it
  back 1,000 times. While the event loop or another request holds it, each ask can wait out a whole
  switch interval: 1,000 rows took 250 ms beside one busy thread, against 11 ms in two statements;
- on PostgreSQL, large sets go in by COPY (`scores_csv` builds its CSV in C++ by Arrow; `DriverInsert`
  copies into a temporary table and inserts from there, which lets an upsert go by COPY too).
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

COPY_FROM_ROWS = 200
"""PostgreSQL takes this many rows or more by COPY; fewer (a group of one-record requests) by a
pipelined executemany, which costs them half the time COPY's protocol does."""

_SQLITE_ROWS_PER_STATEMENT = 500
"""Rows per multi-row VALUES statement: past a few hundred, larger statements gain nothing."""


def sqlite_insert_values(cursor: Any, head: str, width: int, rows: Sequence[Sequence[Any]], tail: str = "") -> int:
    """Insert `rows` (each `width` values) by `head` ("INSERT INTO t (a, b) VALUES") and `tail` (an
    ON CONFLICT clause, say) in as few statements as SQLite's variable limit allows; returns the rowid
    of the last row (0: no rows).

    The rows of one writer's statements get consecutive rowids, in order, as executemany's would.
    """
    limit = cursor.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    per_statement = max(1, min(_SQLITE_ROWS_PER_STATEMENT, limit // width))
    last = 0
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        cursor.execute(_values_sql(head, width, len(chunk), tail), list(chain.from_iterable(chunk)))
        last = int(cursor.lastrowid)
    return last


@lru_cache(maxsize=64)
def _values_sql(head: str, width: int, rows: int, tail: str) -> str:
    row = f"({', '.join('?' * width)})"
    return f"{head} {', '.join([row] * rows)}{tail}"


class DriverInsert:
    """An INSERT of a table's rows run on the driver's cursor, values converted by SQLAlchemy's own
    bind processors; compiled once per dialect. SQLite takes the rows by `sqlite_insert_values`;
    PostgreSQL takes `COPY_FROM_ROWS` or more by COPY (`_copy`), fewer by one pipelined executemany.

    With `upsert_on` (the primary key's columns), a row whose key exists replaces that row's other
    columns instead (ON CONFLICT ... DO UPDATE, which SQLite and PostgreSQL spell alike).
    """

    def __init__(self, table: Table, upsert_on: tuple[str, ...] = ()) -> None:
        self._table = table
        self._upsert_on = upsert_on
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
                sqlite_insert_values(cursor, compiled.head, len(compiled.binds), parameters, compiled.tail)
            elif connection.dialect.name == "postgresql" and len(parameters) >= COPY_FROM_ROWS:
                self._copy(cursor, compiled, parameters)
            else:
                cursor.executemany(compiled.sql + compiled.tail, parameters)
        except driver.Error as exc:  # raised as SQLAlchemy raises it (IntegrityError, ...), as callers expect
            raise DBAPIError.instance(compiled.sql, parameters, exc, driver.Error, dialect=connection.dialect) from exc
        finally:
            cursor.close()

    def _copy(self, cursor: Any, compiled: _CompiledInsert, parameters: list[dict[str, Any]]) -> None:
        """PostgreSQL: COPY the rows into the table; for an upsert, into a temporary table first, then
        one INSERT ... SELECT from it with the ON CONFLICT clause (COPY has none). 142k labels upserted:
        about 1.7 s, against 2.5 s by executemany."""
        if not compiled.tail:
            self._copy_rows(cursor, compiled.table, compiled, parameters)
            return
        staging = f"pg_temp.{self._table.name}_in"
        cursor.execute(f"DROP TABLE IF EXISTS {staging}")
        cursor.execute(f"CREATE TEMPORARY TABLE {self._table.name}_in (LIKE {compiled.table}) ON COMMIT DROP")
        self._copy_rows(cursor, staging, compiled, parameters)
        insert_from = f"INSERT INTO {compiled.table} ({compiled.columns}) SELECT {compiled.columns}"
        cursor.execute(f"{insert_from} FROM {staging}{compiled.tail}")

    @staticmethod
    def _copy_rows(cursor: Any, table: str, compiled: _CompiledInsert, parameters: list[dict[str, Any]]) -> None:
        with cursor.copy(f"COPY {table} ({compiled.columns}) FROM STDIN") as copy:
            for values in parameters:
                copy.write_row([values[k] for k in compiled.keys])

    def _compile(self, dialect: Dialect) -> _CompiledInsert:
        names = [c.name for c in self._table.columns if not (c.primary_key and c.autoincrement is True)]
        compiled = insert(self._table).compile(dialect=dialect, column_keys=names)
        positional = bool(compiled.positional)
        keys = list(compiled.positiontup or names) if positional else names
        convert = {c.name: c.type._cached_bind_processor(dialect) for c in self._table.columns}
        quote = dialect.identifier_preparer
        tail = ""
        if self._upsert_on:
            replaced = [quote.quote(k) for k in names if k not in self._upsert_on]
            updated = ", ".join(f"{k} = excluded.{k}" for k in replaced)
            tail = f" ON CONFLICT ({', '.join(map(quote.quote, self._upsert_on))}) DO UPDATE SET {updated}"
        return _CompiledInsert(
            sql=str(compiled),
            table=quote.format_table(self._table),
            columns=", ".join(map(quote.quote, keys)),
            tail=tail,
            binds=[(k, convert[k]) for k in keys],
            keys=keys,
            positional=positional,
        )


@dataclass(frozen=True)
class _CompiledInsert:
    sql: str
    """The single-row statement, without `tail`."""
    table: str
    columns: str
    """The quoted column list, in the order of `keys`."""
    tail: str
    """What follows the values: the ON CONFLICT clause of an upsert, else nothing."""
    binds: list[tuple[str, Callable[[Any], Any] | None]]
    keys: list[str]
    positional: bool

    @property
    def head(self) -> str:
        """The statement up to VALUES, for multi-row statements."""
        return f"INSERT INTO {self.table} ({self.columns}) VALUES"

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
