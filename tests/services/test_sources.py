"""Data sources the server owns, through the Python API on crispml's own SQLite and PostgreSQL stores.

Each attack is refused with nothing changed on the source nor in crispml's own database, and a
source's password shows up nowhere: not in errors, datasets, perf rows or logs.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from crispml.domain import SourceKind, SourceSpec
from crispml.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from crispml.local import Crispml

SECRET = "hunter2-very-secret"


@pytest.fixture
def lite(tmp_path: Path, small_csv: Path) -> Path:
    """A SQLite database holding 600 rows of the credit-card file as table `tx`."""
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as db:
        pd.read_csv(small_csv).head(600).to_sql("tx", db, index=False)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _own_state(cml: Crispml) -> tuple[list[str], list[str]]:
    return [d.id for d in cml.datasets()], [s.name for s in cml.sources.list_sources()]


def test_a_registered_source_is_browsed_and_ingested_end_to_end(cml: Crispml, lite: Path) -> None:
    added = cml.sources.add("warehouse", f"sqlite:///{lite}")
    assert added.kind is SourceKind.SQL and added.created_by == "tester"
    with pytest.raises(Conflict, match="already exists"):
        cml.sources.add("warehouse", f"sqlite:///{lite}")
    (table,) = cml.sources.tables("warehouse")
    assert table.name == "tx" and table.rows == 600 and table.columns[0].name == "Time"
    dataset = cml.ingest(SourceSpec(source="warehouse", table="tx"), slices=6)
    assert dataset.name == "tx" and dataset.rows == 600 and dataset.source == "source warehouse table tx"
    queried = cml.ingest(SourceSpec(source="warehouse", query='SELECT * FROM tx WHERE "Amount" > 20'), name="big")
    assert 0 < queried.rows < 600
    cml.sources.remove("warehouse")
    assert cml.sources.list_sources() == []
    with pytest.raises(NotFound, match="'warehouse' is not registered"):
        cml.ingest(SourceSpec(source="warehouse", table="tx"))
    with pytest.raises(NotFound):
        cml.sources.remove("warehouse")


ATTACKS = [
    "DROP TABLE tx",
    "WITH x AS (SELECT 1) DELETE FROM tx",
    "VACUUM INTO '{dir}/stolen.db'",
    "ATTACH DATABASE '{dir}/planted.db' AS p",
    "SELECT 1; DELETE FROM tx",
    "CREATE TABLE planted (a)",
]


def test_each_sqlite_attack_is_refused_and_changes_nothing(cml: Crispml, lite: Path) -> None:
    cml.sources.add("warehouse", f"sqlite:///{lite}")
    before, files, own = _digest(lite), set(lite.parent.iterdir()), _own_state(cml)
    for attack in ATTACKS:
        with pytest.raises(InvalidInput, match="source 'warehouse'"):
            cml.ingest(SourceSpec(source="warehouse", query=attack.format(dir=lite.parent)), name="evil")
    assert _digest(lite) == before and set(lite.parent.iterdir()) == files and _own_state(cml) == own
    for table in ('tx"; DROP TABLE tx; --', "nope", "sqlite_master"):
        with pytest.raises(NotFound):
            cml.ingest(SourceSpec(source="warehouse", table=table), name="evil")
    assert _digest(lite) == before and _own_state(cml) == own


def test_each_postgresql_attack_is_refused_and_changes_nothing(
    cml: Crispml, small_csv: Path, source_postgres_url: str
) -> None:
    engine = create_engine(source_postgres_url)
    pd.read_csv(small_csv).head(300).to_sql("tx", engine, index=False)
    cml.sources.add("pg", source_postgres_url)
    own = _own_state(cml)
    for attack in (
        "COMMIT; DROP TABLE tx",
        "END; DELETE FROM tx",
        "DROP TABLE tx",
        "WITH gone AS (DELETE FROM tx RETURNING *) SELECT * FROM gone",
        "SELECT set_config('default_transaction_read_only', 'off', false); DELETE FROM tx",
    ):
        with pytest.raises(InvalidInput, match="source 'pg'"):
            cml.ingest(SourceSpec(source="pg", query=attack), name="evil")
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM tx")) == 300
    engine.dispose()
    assert _own_state(cml) == own
    assert cml.ingest(SourceSpec(source="pg", table="tx"), slices=3).rows == 300


def test_crispmls_own_database_is_never_a_source(cml: Crispml, tmp_path: Path, lite: Path) -> None:
    own_url = cml.settings.resolved_database_url
    with pytest.raises(InvalidInput, match="crispml's own database"):
        cml.sources.add("self", own_url)
    if own_url.startswith("sqlite"):
        own_file = Path(own_url.removeprefix("sqlite:///"))
        # Registered as an innocent file that later becomes a link to the store: refused when read.
        decoy = tmp_path / "decoy.db"
        shutil.copy(lite, decoy)
        cml.sources.add("decoy", f"sqlite:///{decoy}")
        decoy.unlink()
        decoy.symlink_to(own_file)
    else:
        cml.sources.add("decoy", own_url.replace("127.0.0.1", "[::ffff:127.0.0.1]"))
    own = _own_state(cml)
    for attack in ("DELETE FROM datasets", "SELECT * FROM datasets"):
        with pytest.raises((InvalidInput, Unavailable)):
            cml.ingest(SourceSpec(source="decoy", query=attack), name="evil")
    assert _own_state(cml) == own


def test_a_password_shows_up_nowhere(
    cml: Crispml,
    small_csv: Path,
    source_postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    engine = create_engine(source_postgres_url)
    pd.read_csv(small_csv).head(120).to_sql("tx", engine, index=False)
    engine.dispose()
    monkeypatch.setenv("SRC_PW", SECRET)
    # The test server trusts local connections, so the password is sent and ignored: it must not leak.
    url = source_postgres_url.replace("@", ":${SRC_PW}@", 1)
    with pytest.raises(InvalidInput, match="must not hold a password") as literal:
        cml.sources.add("pg", url.replace("${SRC_PW}", SECRET))
    assert SECRET not in literal.value.message
    cml.sources.add("pg", url)
    cml.sources.add("down", "postgresql+psycopg://postgres:${SRC_PW}@127.0.0.1:1/nothing")
    messages = [literal.value.message]
    dataset = cml.ingest(SourceSpec(source="pg", table="tx"), slices=3)
    for spec in (SourceSpec(source="down", table="tx"), SourceSpec(source="pg", query="SELECT nonsense")):
        with pytest.raises((InvalidInput, Unavailable)) as failed:
            cml.ingest(spec)
        messages.append(failed.value.message)
    assert messages[1] == "source 'down' cannot be reached" and "nonsense" in messages[2]
    records, _ = cml.operations.perf("ingest")
    seen = [*messages, caplog.text, repr(dataset), repr(cml.sources.list_sources()), repr(records)]
    assert not [s for s in seen if SECRET in s]
    assert all(":1" not in m and "refused" not in m.lower() for m in messages[1:2])


def test_a_files_source_stays_inside_its_folder(cml: Crispml, tmp_path: Path, small_csv: Path) -> None:
    folder = tmp_path / "landing"
    (folder / "in").mkdir(parents=True)
    shutil.copy(small_csv, folder / "in" / "cards.csv")
    outside = tmp_path / "secret.csv"
    shutil.copy(small_csv, outside)
    (folder / "link.csv").symlink_to(outside)
    (folder / "dir-link").symlink_to(tmp_path)
    cml.sources.add("landing", str(folder))
    assert [(s.name, s.kind) for s in cml.sources.list_sources()] == [("landing", SourceKind.FILES)]
    assert cml.ingest(SourceSpec(source="landing", path="in/cards.csv"), name="cards", slices=3).rows > 0
    own = _own_state(cml)
    for path in ("../secret.csv", str(outside), "link.csv", "dir-link/secret.csv", "in/../../secret.csv"):
        with pytest.raises(Forbidden, match="outside source 'landing'"):
            cml.ingest(SourceSpec(source="landing", path=path), name="evil")
    with pytest.raises(InvalidInput, match="holds files"):
        cml.ingest(SourceSpec(source="landing", table="tx"))
    with pytest.raises(InvalidInput, match="holds files, not tables"):
        cml.sources.tables("landing")
    assert _own_state(cml) == own


def test_paths_from_callers_who_do_not_own_the_machine_stay_in_the_data_folder(cml: Crispml, tmp_path: Path) -> None:
    data = cml.settings.resolved_data_dir
    data.mkdir(parents=True, exist_ok=True)
    (data / "ok.csv").write_text("a,Class\n1,0\n")
    (data / "escape.csv").symlink_to(tmp_path)
    assert cml.sources.contained(SourceSpec(path="ok.csv")).path == str(data / "ok.csv")
    for path in ("../crispml.db", "/etc/passwd", "escape.csv/x", "a/../../x"):
        with pytest.raises(Forbidden, match="outside the data folder"):
            cml.sources.contained(SourceSpec(path=path))
    with pytest.raises(InvalidInput, match="NUL"):
        cml.sources.contained(SourceSpec(path="a\x00b"))


def test_a_table_or_query_without_a_source_is_refused(cml: Crispml) -> None:
    with pytest.raises(InvalidInput, match="registered source"):
        cml.ingest(SourceSpec(table="tx"))
    with pytest.raises(InvalidInput, match="registered source"):
        cml.ingest(SourceSpec())
