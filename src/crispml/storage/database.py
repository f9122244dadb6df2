"""Engine creation and schema migration for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

_MIGRATIONS = Path(__file__).parent / "migrations"
POOL_SIZE = 40
"""Connections kept open per engine: as many as the server's worker threads (anyio's default, 40)."""
WAL_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes a SQLite WAL file is cut back to when the log starts over."""
READ_ONLY = "crispml_read_only"
"""Execution option of a connection whose transactions only read."""


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL synced at every commit, foreign keys and a busy timeout so
    writers queue."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # The server's worker threads each hold a connection while they read; opening one costs more
        # than a request, so the pool keeps as many as there are threads instead of closing extras.
        # LIFO: the group commit's writer gets back the connection it used last, whose page cache is
        # still good (it wrote the pages since); FIFO handed it the oldest, whose cache another
        # connection's writes had made stale, and SQLite read those pages again at every commit.
        engine = create_engine(url, connect_args={"timeout": 30}, pool_size=POOL_SIZE, max_overflow=POOL_SIZE,
                               pool_use_lifo=True)  # fmt: skip

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # let the "begin" hook below open transactions
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL syncs the WAL at every commit: a score acknowledged as committed survives a power cut,
            # not only a crash. Group commit shares that sync among concurrent score requests.
            cursor.execute("PRAGMA synchronous=FULL")
            # A WAL file keeps its largest size once reused (a big batch leaves hundreds of MB behind);
            # SQLite truncates it to this when the log starts over.
            cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            # Take the write lock up front: two writers then queue on busy_timeout instead of one failing
            # when it upgrades a stale read snapshot (e.g. both computing the next version number).
            # A transaction that only reads (READ_ONLY) takes a snapshot and never waits for writers.
            read_only = connection.get_execution_options().get(READ_ONLY, False)
            # On the driver's connection: SQLAlchemy's statement machinery cost the group commit more
            # than the statement (about 20 us of the 60 a write transaction took around its writes).
            connection.connection.driver_connection.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE // 2, max_overflow=POOL_SIZE)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def revisions(engine: Engine) -> tuple[str | None, str | None]:
    """The schema's current revision (None: an empty database) and the newest migration's."""
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return current, head


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to the newest migration; a no-op (one query) when it is already there.

    Returns the revision the database was at (None: an empty one) and the one it is at now.
    """
    current, head = revisions(engine)
    if current != head:
        command.upgrade(alembic_config(engine), "head")
    return current, head
