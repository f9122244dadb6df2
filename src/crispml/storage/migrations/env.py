"""Alembic environment: the engine comes from crispml's composition root, never from an ini file."""

from __future__ import annotations

from alembic import context

from crispml.storage.schema import metadata

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    # SQLite rebuilds a table to alter it; with foreign keys on, dropping the old copy of a referenced
    # table fails. The pragma only takes effect outside a transaction, so it is set on the raw connection.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
