"""Registered sources at the storage edge: locations checked, secrets resolved late, connections that cannot write.

Every attack runs on a real SQLite file or a real PostgreSQL database and must leave it as it was.
"""

from __future__ import annotations

import hashlib
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crispml.domain import DataSource, SourceKind, SourceSpec
from crispml.errors import CrispmlError, InvalidInput, NotFound, Unavailable
from crispml.storage import sql_sources
from crispml.storage.source_urls import check_location, resolve
from crispml.storage.sources import read_source

OWN = "sqlite:////nowhere/crispml.db"
SECRET = "hunter2-very-secret"


def _source(location: str, name: str = "src") -> DataSource:
    return DataSource(name, SourceKind.SQL, location, "tester", datetime.now(UTC))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def lite(tmp_path: Path) -> Path:
    path = tmp_path / "source.db"
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE tx ("Time" REAL, "V1" REAL, "Class" INTEGER)')
        db.executemany("INSERT INTO tx VALUES (?, ?, ?)", [(i, i / 10, int(i % 7 == 0)) for i in range(50)])
        db.execute('CREATE TABLE "we""ird" (a INTEGER)')
        db.execute('INSERT INTO "we""ird" VALUES (1)')
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- locations ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("location", "complaint"),
    [
        (f"postgresql+psycopg://reader:{SECRET}@db.example/w", "must not hold a password"),
        (f"postgresql+psycopg://reader@db.example/w?password={SECRET}", "password are not allowed"),
        ("postgresql+psycopg://reader@db.example/w?options=-c%20default_transaction_read_only%3Doff", "options"),
        ("postgresql+psycopg://reader@db.example/w?host=elsewhere", "host are not allowed"),
        (f"mysql://reader:{SECRET}@db.example/w", "must not hold a password"),
        ("mysql://reader@db.example/w", "'mysql' is not supported"),
        ("sqlite://", "sqlite:////absolute"),
        ("sqlite:///file:x.db?mode=rwc", "mode are not allowed"),
        ("relative/folder", "cannot be parsed"),
        ("sqlite:///relative.db", "absolute"),
        ("postgresql+psycopg://reader@db.example/\ud800", "cannot be used"),
        ("/no/such/folder", "existing folder"),
        (OWN, "crispml's own database"),
        ("postgresql+psycopg://postgres@localhost/crispml", "crispml's own database"),
    ],
)
def test_a_location_is_refused_without_echoing_it(location: str, complaint: str) -> None:
    own = "postgresql+psycopg://postgres@127.0.0.1:5432/crispml" if location.startswith("postgresql") else OWN
    with pytest.raises(InvalidInput, match=complaint) as refused:
        check_location(location, own)
    assert SECRET not in refused.value.message and "db.example" not in refused.value.message


def test_crispmls_own_sqlite_file_is_refused_however_it_is_spelled(tmp_path: Path) -> None:
    own = tmp_path / "home" / "crispml.db"
    own.parent.mkdir()
    sqlite3.connect(own).close()
    (tmp_path / "alias.db").symlink_to(own)
    (tmp_path / "hard.db").hardlink_to(own)
    for spelling in (
        str(own),
        f"{tmp_path}/home/../home/crispml.db",
        str(tmp_path / "alias.db"),
        str(tmp_path / "hard.db"),
    ):
        with pytest.raises(InvalidInput, match="crispml's own database"):
            check_location(f"sqlite:///{spelling}", f"sqlite:///{own}")


def test_password_references_are_stored_and_resolved_only_when_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, stored = check_location("postgresql://reader:${SRC_PW}@db.example:6432/w?sslmode=require", OWN)
    assert kind is SourceKind.SQL and SECRET not in stored
    assert stored == "postgresql+psycopg://reader:${SRC_PW}@db.example:6432/w?sslmode=require"
    with pytest.raises(Unavailable, match="SRC_PW is not set") as missing:
        resolve(stored, "w")
    assert "db.example" not in missing.value.message
    monkeypatch.setenv("SRC_PW", SECRET)
    url = resolve(stored, "w")
    assert url.password == SECRET and url.host == "db.example" and url.port == 6432 and url.database == "w"

    secret_file = tmp_path / "pw"
    secret_file.write_text(SECRET + "\n")
    _, from_file = check_location(f"postgresql+psycopg://reader:@file:{secret_file}@db.example/w", OWN)
    assert SECRET not in from_file and resolve(from_file, "w").password == SECRET
    secret_file.unlink()
    with pytest.raises(Unavailable, match="password file cannot be read") as unreadable:
        resolve(from_file, "w")
    assert str(secret_file) not in unreadable.value.message


def test_a_folder_is_a_files_source(tmp_path: Path) -> None:
    assert check_location(str(tmp_path), OWN) == (SourceKind.FILES, str(tmp_path.resolve()))
    assert check_location(f"file://{tmp_path}", OWN) == (SourceKind.FILES, str(tmp_path.resolve()))


# -- SQLite: opened read-only, an authorizer, one statement -----------------------------------------


SQLITE_ATTACKS = [
    "DROP TABLE tx",
    "DELETE FROM tx",
    "WITH x AS (SELECT 1) DELETE FROM tx",
    "INSERT INTO tx VALUES (1, 2, 3)",
    "CREATE TABLE evil (a)",
    "VACUUM",
    "VACUUM INTO '{dir}/copy.db'",
    "ATTACH DATABASE '{dir}/attached.db' AS evil",
    "PRAGMA writable_schema = ON",
    "PRAGMA journal_mode = DELETE",
    "SELECT 1; DROP TABLE tx",
    "SELECT load_extension('/tmp/evil')",
]


@pytest.mark.parametrize("attack", SQLITE_ATTACKS)
def test_a_sqlite_query_cannot_write_anything(lite: Path, attack: str) -> None:
    before = _digest(lite)
    files = set(lite.parent.iterdir())
    source = _source(f"sqlite:///{lite}")
    with pytest.raises(InvalidInput) as refused:
        read_source(SourceSpec(source="src", query=attack.format(dir=lite.parent)), registered=source)
    assert "source 'src'" in refused.value.message and str(lite) not in refused.value.message
    assert _digest(lite) == before and set(lite.parent.iterdir()) == files


@pytest.mark.parametrize("attack", [a for a in SQLITE_ATTACKS if "load_extension" not in a])
def test_the_sqlite_connection_itself_cannot_write(lite: Path, attack: str) -> None:
    """Underneath the first-word check: the file opened read-only, query_only and the authorizer."""
    before, files = _digest(lite), set(lite.parent.iterdir())
    with sql_sources.reading(_source(f"sqlite:///{lite}"), 10) as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        with pytest.raises(sqlite3.Error):
            raw.execute(attack.format(dir=lite.parent))
    assert _digest(lite) == before and set(lite.parent.iterdir()) == files


def test_a_sqlite_query_past_its_timeout_is_interrupted(lite: Path) -> None:
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n"
    with pytest.raises(InvalidInput, match="statement timeout"):
        read_source(SourceSpec(source="src", query=endless), registered=_source(f"sqlite:///{lite}"), timeout_s=0.3)


def test_sqlite_tables_are_read_by_their_catalogue_names(lite: Path) -> None:
    source = _source(f"sqlite:///{lite}")
    raw = read_source(SourceSpec(source="src", table="tx"), registered=source)
    assert len(raw.frame) == 50 and list(raw.frame.columns) == ["Time", "V1", "Class"]
    assert raw.source == "source src table tx"
    assert len(read_source(SourceSpec(source="src", table='we"ird'), registered=source).frame) == 1
    for name in ('tx"; DROP TABLE tx; --', "tx; DROP TABLE tx", "TX2", "main.nope", "nope.tx"):
        with pytest.raises(NotFound, match="has no"):
            read_source(SourceSpec(source="src", table=name), registered=source)
    with pytest.raises(InvalidInput, match="not text"):
        read_source(SourceSpec(source="src", query="SELECT '\ud800'"), registered=source)
    with sql_sources.reading(source, 10) as connection:
        found = {t.name: t for t in sql_sources.tables(source, connection)}
    assert found["tx"].rows == 50 and [c.name for c in found["tx"].columns] == ["Time", "V1", "Class"]
    assert found['we"ird'].rows == 1


def test_a_crispml_store_is_never_read_even_under_another_name(tmp_path: Path) -> None:
    import crispml

    with crispml.connect(home=tmp_path / "other", user="t"):
        pass
    copy = tmp_path / "copy.db"
    copy.write_bytes((tmp_path / "other" / "crispml.db").read_bytes())
    with pytest.raises(InvalidInput, match="is a crispml store"):
        read_source(SourceSpec(source="src", query="SELECT * FROM datasets"), registered=_source(f"sqlite:///{copy}"))


# -- PostgreSQL: a read-only session a COMMIT cannot end, one prepared statement ------------------------


PG_ATTACKS = [
    "COMMIT; DROP TABLE tx",
    "SELECT 1; COMMIT; DROP TABLE tx",
    "ROLLBACK; SET SESSION default_transaction_read_only = off; DROP TABLE tx",
    "SELECT set_config('default_transaction_read_only', 'off', false); DELETE FROM tx",
    "COPY (SELECT 1) TO '/tmp/crispml-copied'",
    "  -- a comment\n/* and another */ SET default_transaction_read_only = off",
    "SELECT lo_export(lo_from_bytea(0, 'x'::bytea), '/tmp/crispml-exported')",
    "DROP TABLE tx",
    "DELETE FROM tx",
    "WITH gone AS (DELETE FROM tx RETURNING *) SELECT * FROM gone",
    "WITH t AS (SELECT 1) INSERT INTO tx SELECT * FROM tx",
    "SELECT * INTO evil FROM tx",
    "CREATE TABLE evil AS SELECT * FROM tx",
]


@pytest.fixture
def pg_source(source_postgres_url: str) -> str:
    engine = create_engine(source_postgres_url)
    with engine.begin() as connection:
        connection.execute(text('CREATE TABLE tx ("Time" DOUBLE PRECISION, "V1" NUMERIC, "Class" INTEGER)'))
        connection.execute(text("INSERT INTO tx SELECT i, i / 10.0, (i % 7 = 0)::int FROM generate_series(1, 60) i"))
    engine.dispose()
    return source_postgres_url


def _pg_state(url: str) -> tuple[int, list[str]]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.scalar(text("SELECT count(*) FROM tx"))
        tables = list(connection.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")))
    engine.dispose()
    return int(rows or 0), sorted(tables)


@pytest.mark.parametrize("attack", PG_ATTACKS)
def test_a_postgresql_query_cannot_write_anything(pg_source: str, attack: str) -> None:
    source = _source(check_location(pg_source, OWN)[1])
    with pytest.raises(InvalidInput, match="source 'src'"):
        read_source(SourceSpec(source="src", query=attack), registered=source)
    assert _pg_state(pg_source) == (60, ["tx"])
    assert not Path("/tmp/crispml-copied").exists() and not Path("/tmp/crispml-exported").exists()


def test_the_postgresql_session_itself_is_read_only_past_a_commit(pg_source: str) -> None:
    """Underneath the one-statement rule: even sent as several statements, COMMIT starts another read-only one."""
    source = _source(check_location(pg_source, OWN)[1])
    for attack in ("COMMIT; DROP TABLE tx", "ROLLBACK; DELETE FROM tx", 'END; BEGIN; UPDATE tx SET "Class" = 1'):
        with sql_sources.reading(source, 10) as connection, pytest.raises(Exception, match="read-only transaction"):
            connection.exec_driver_sql(attack)
    assert _pg_state(pg_source) == (60, ["tx"])


def test_a_superuser_source_is_never_queried(source_postgres_url: str) -> None:
    # A superuser writes the server's files even in a read-only session (COPY ... TO, lo_export).
    admin_url = source_postgres_url.replace(source_postgres_url.split("://")[1].split("@")[0], "postgres", 1)
    source = _source(check_location(admin_url, OWN)[1])
    with pytest.raises(InvalidInput, match="superuser"):
        read_source(SourceSpec(source="src", query="SELECT 1 AS a"), registered=source)


def test_a_postgresql_query_past_its_timeout_is_cancelled(pg_source: str) -> None:
    source = _source(check_location(pg_source, OWN)[1])
    started = datetime.now(UTC)
    with pytest.raises(InvalidInput, match="statement timeout"):
        read_source(SourceSpec(source="src", query="SELECT pg_sleep(30), 1 AS a"), registered=source, timeout_s=0.5)
    assert (datetime.now(UTC) - started).total_seconds() < 10


def test_postgresql_tables_queries_and_the_catalogue(pg_source: str) -> None:
    source = _source(check_location(pg_source, OWN)[1])
    raw = read_source(SourceSpec(source="src", query='SELECT * FROM tx WHERE "Time" > 30'), registered=source)
    assert len(raw.frame) == 30 and raw.frame["V1"].dtype.kind == "f"  # NUMERIC arrives as float, not Decimal
    assert len(read_source(SourceSpec(source="src", table="public.tx"), registered=source).frame) == 60
    for name in ("tx; DROP TABLE tx", "pg_catalog.pg_authid", "nope.tx", "TX"):
        with pytest.raises(NotFound):
            read_source(SourceSpec(source="src", table=name), registered=source)
    with sql_sources.reading(source, 10) as connection:
        (table,) = sql_sources.tables(source, connection)
    assert table.name == "tx" and table.rows == 60 and [c.name for c in table.columns] == ["Time", "V1", "Class"]
    assert _pg_state(pg_source) == (60, ["tx"])


def test_a_crispml_postgresql_store_is_never_read(postgres_url: str, tmp_path: Path) -> None:
    import crispml

    with crispml.connect(home=tmp_path / "h", database_url=postgres_url, user="t"):
        pass
    spelled_otherwise = postgres_url.replace("127.0.0.1", "localhost")
    with pytest.raises(InvalidInput, match="is a crispml store"):
        read_source(SourceSpec(source="src", query="SELECT 1 AS a"), registered=_source(spelled_otherwise))


def test_every_unreachable_source_reads_the_same_without_its_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRC_PW", SECRET)
    port = _free_port()
    messages = set()
    for location in (
        f"postgresql+psycopg://reader:${{SRC_PW}}@127.0.0.1:{port}/w",  # refused
        "postgresql+psycopg://reader:${SRC_PW}@no-such-host.invalid/w",  # DNS
        "postgresql+psycopg://nobody:${SRC_PW}@127.0.0.1:5432/no_such_database",  # rejected by the server
        "sqlite:////no/such/file.db",
    ):
        with pytest.raises(CrispmlError) as failed:
            read_source(SourceSpec(source="src", table="tx"), registered=_source(location))
        assert isinstance(failed.value, Unavailable)
        assert failed.value.__context__ is None and failed.value.__cause__ is None
        messages.add(failed.value.message)
    assert messages == {"source 'src' cannot be reached"}
