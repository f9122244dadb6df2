"""Reading registered SQL sources on connections that cannot write.

PostgreSQL: the session starts with `default_transaction_read_only=on` and a `statement_timeout` set as
connection options, so a `COMMIT;` inside a query's text cannot end the read-only transaction into a
writable one; and a query runs as a prepared statement, which PostgreSQL refuses to hold two of.
SQLite: the file is opened read-only (`mode=ro`), `query_only` is on, an authorizer allows only reads
(no ATTACH, no VACUUM INTO, no pragma that sets anything) and a progress handler interrupts a query
that runs past the timeout. Table and column names come from the source's own catalogue.

Errors name the source and what failed, never its URL, its password or the driver's connection text:
refused, timed out and unknown hosts all read "cannot be reached".
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, TypeVar
from urllib.parse import quote

import pandas as pd
from sqlalchemy import Connection, MetaData, Table, create_engine, func, inspect, select, text
from sqlalchemy import table as table_clause
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from crispml.domain import DataSource, SourceColumn, SourceTable
from crispml.errors import CrispmlError, InvalidInput, NotFound, Unavailable
from crispml.storage.source_urls import resolve

T = TypeVar("T")

CONNECT_TIMEOUT_S = 10
_READ_ONLY_STATE = "25006"
_CANCELLED_STATE = "57014"
_SYNTAX_STATE = "42601"
_READ_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
# Pragmas SQLAlchemy reads (its inspector, its isolation level); none of them changes anything.
_CATALOGUE_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "index_list", "index_info", "foreign_key_list", "database_list"}
)
_SETTINGS_READ = frozenset({"read_uncommitted"})
_QUERY_WORDS = ("SELECT", "WITH", "VALUES", "TABLE", "(")
_LEADING = re.compile(r"^(\s+|--[^\n]*\n?|/\*.*?\*/)+", re.DOTALL)  # blanks and comments before the first word
# Tables every crispml store has had since its first migration.
_STORE_TABLES = frozenset({"alembic_version", "datasets", "model_versions", "model_aliases", "labels", "perf_records"})


@contextmanager
def reading(source: DataSource, timeout_s: float) -> Iterator[Connection]:
    """A connection to `source` that cannot write; Unavailable if it cannot be reached, or if it is crispml's own."""
    url = resolve(source.location, source.name)
    engine = _engine(url, timeout_s)
    try:
        connection = None
        with suppress(SQLAlchemyError, sqlite3.Error, OSError, ValueError):
            connection = engine.connect()
        if connection is None:
            # The driver's text names host, port and the reason: a port scanner's answer. One line for all,
            # raised outside the handler so the driver's exception is not even its context.
            raise Unavailable(f"source {source.name!r} cannot be reached")
        with connection:
            # However the URL was spelled (another host name, a hard link), a crispml store is recognised by its tables.
            if set(_guard(source, lambda: inspect(connection).get_table_names())) >= _STORE_TABLES:
                raise InvalidInput(
                    f"source {source.name!r} is a crispml store; crispml never reads its own", field="source"
                )
            if connection.dialect.name == "postgresql" and _guard(source, lambda: _privileged(connection)):
                # Such a role reads and writes the server's files even in a read-only transaction (COPY ... TO,
                # lo_export, pg_read_file): refused, whatever the query.
                raise InvalidInput(
                    f"source {source.name!r} connects as a superuser or a role that may touch the server's files; "
                    "register it with a role that may only SELECT",
                    field="source",
                )
            yield connection
            connection.rollback()
    finally:
        engine.dispose()


def tables(source: DataSource, connection: Connection) -> list[SourceTable]:
    """Every table of the source's default schema, with its columns and row count."""

    def read() -> list[SourceTable]:
        catalogue = inspect(connection)
        found = []
        for name in sorted(catalogue.get_table_names()):
            columns = tuple(SourceColumn(c["name"], str(c["type"])) for c in catalogue.get_columns(name))
            # The name comes from the catalogue and is quoted by the compiler.
            rows = connection.scalar(select(func.count()).select_from(table_clause(name)))
            found.append(SourceTable(name, columns, int(rows or 0)))
        return found

    return _guard(source, read)


def read_table(source: DataSource, connection: Connection, name: str) -> pd.DataFrame:
    """A whole table, named as the catalogue names it (`table` or `schema.table`); NotFound if it does not."""
    schema, _, table = name.rpartition(".")

    def read() -> pd.DataFrame:
        catalogue = inspect(connection)
        if schema and schema not in catalogue.get_schema_names():
            raise NotFound(f"source {source.name!r} has no schema {schema!r}")
        if table not in catalogue.get_table_names(schema=schema or None):
            raise NotFound(f"source {source.name!r} has no table {name!r}")
        try:
            reflected = Table(table, MetaData(), autoload_with=connection, schema=schema or None)
        except NoSuchTableError:
            raise NotFound(f"source {source.name!r} has no table {name!r}") from None
        return _frame(connection.execute(select(reflected)).cursor)

    return _guard(source, read)


def run_query(source: DataSource, connection: Connection, query: str) -> pd.DataFrame:
    """One read-only statement's rows; InvalidInput says why the source refused it."""
    if not _LEADING.sub("", query)[:6].upper().startswith(_QUERY_WORDS):
        # The read-only session refuses writes itself; this also keeps out statements that are not reads at
        # all (COPY, SET, PRAGMA, CALL) before they reach the source.
        raise InvalidInput(f"source {source.name!r} runs queries that begin with SELECT, WITH, VALUES or TABLE",
                           field="source")  # fmt: skip

    def read() -> pd.DataFrame:
        raw: Any = connection.connection.dbapi_connection
        cursor = raw.cursor()
        try:
            if connection.dialect.name == "postgresql":
                cursor.execute(query, prepare=True)  # a prepared statement holds exactly one statement
            else:
                cursor.execute(query)  # sqlite3 refuses a second statement itself
            if cursor.description is None:
                raise InvalidInput(
                    f"source {source.name!r}: the query returned no rows; run one SELECT", field="source"
                )
            return _frame(cursor)
        finally:
            cursor.close()

    return _guard(source, read)


def _privileged(connection: Connection) -> bool:
    """Whether the session's role is a superuser or may read, write or run things on the server's machine."""
    return bool(
        connection.scalar(
            text(
                "SELECT current_setting('is_superuser') = 'on'"
                " OR pg_has_role(current_user, 'pg_write_server_files', 'MEMBER')"
                " OR pg_has_role(current_user, 'pg_read_server_files', 'MEMBER')"
                " OR pg_has_role(current_user, 'pg_execute_server_program', 'MEMBER')"
            )
        )
    )


def _frame(cursor: Any) -> pd.DataFrame:
    names = [column[0] for column in cursor.description]
    return pd.DataFrame.from_records(cursor.fetchall(), columns=names, coerce_float=True)


def _guard(source: DataSource, work: Callable[[], T]) -> T:
    """Run `work`, turning what a driver raises into one crispml error naming the source."""
    import psycopg  # here, not at import: a server on SQLite starts without PostgreSQL's driver

    try:
        return work()
    except (SQLAlchemyError, sqlite3.Error, psycopg.Error) as exc:
        refusal = _refusal(source.name, exc)
    # Raised outside the handler: the driver's exception (host, port, its wording) never rides along into a log.
    raise refusal


def _refusal(name: str, exc: BaseException) -> CrispmlError:
    original = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    state = getattr(original, "sqlstate", None)
    text = str(original).strip().splitlines()[0] if str(original).strip() else ""
    if state == _READ_ONLY_STATE or "readonly" in text or "not authorized" in text or "authorization denied" in text:
        return InvalidInput(
            f"source {name!r} is read-only: the query tried to change something; run one SELECT", field="source"
        )
    if state == _CANCELLED_STATE or text == "interrupted":
        return InvalidInput(f"source {name!r}: the query ran past the statement timeout", field="source")
    if "multiple commands" in text or "one statement at a time" in text:
        return InvalidInput(f"source {name!r} runs one statement per query; remove the others", field="source")
    if state is None and not isinstance(original, sqlite3.Error):
        return Unavailable(f"source {name!r} cannot be reached")  # the connection broke, or no SQL error at all
    # A statement the server parsed and refused: its primary message is about the query, not the server.
    diag = getattr(original, "diag", None)
    reason = (diag.message_primary if diag is not None else None) or text or type(original).__name__
    return InvalidInput(f"source {name!r}: the query failed: {reason[:300]}", field="source")


def _engine(url: URL, timeout_s: float) -> Engine:
    if url.get_backend_name() == "sqlite":
        path = url.database or ""
        return create_engine("sqlite://", creator=lambda: _sqlite_reader(path, timeout_s), poolclass=NullPool)
    options = f"-c default_transaction_read_only=on -c statement_timeout={max(1, int(timeout_s * 1000))}"
    connect_args = {"options": options, "connect_timeout": CONNECT_TIMEOUT_S}
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def _sqlite_reader(path: str, timeout_s: float) -> sqlite3.Connection:
    connection = sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, check_same_thread=False)
    connection.execute("PRAGMA query_only = ON")
    connection.set_authorizer(_sqlite_allows)
    deadline = time.monotonic() + timeout_s
    connection.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
    return connection


def _sqlite_allows(action: int, first: str | None, second: str | None, _db: str | None, _inner: str | None) -> int:
    """SQLite's authorizer: reads, and the catalogue pragmas; everything else (ATTACH, VACUUM, writes) is denied."""
    if action in _READ_ACTIONS and not (action == sqlite3.SQLITE_FUNCTION and second == "load_extension"):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (
        first in _CATALOGUE_PRAGMAS or (first in _SETTINGS_READ and second is None)
    ):
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_TRANSACTION:  # BEGIN or ROLLBACK: nothing can be written inside anyway
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY
