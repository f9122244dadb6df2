"""`crispml sources add|list|tables|remove` and `crispml ingest --source` on real stores.

A URL's password is only ever a reference; nothing the commands print holds it or the URL.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from tests.cli.conftest import Cli, run

SECRET = "hunter2-very-secret"


@pytest.fixture
def lite(tmp_path: Path, small_csv: Path) -> Path:
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as db:
        pd.read_csv(small_csv).head(480).to_sql("tx", db, index=False)
    return path


def test_sources_are_added_listed_browsed_ingested_and_removed(cli: Cli, lite: Path) -> None:
    added = cli("sources", "add", "warehouse", f"sqlite:///{lite}")
    assert "added sql source warehouse" in added and str(lite) not in added
    (source,) = cli("sources", "list", "--json")
    assert set(source) == {"name", "kind", "created_by", "created_at"}
    assert (source["name"], source["kind"], source["created_by"]) == ("warehouse", "sql", "cli-tester")
    listed = cli("sources", "list")
    assert "warehouse" in listed and str(lite) not in listed and "sqlite" not in listed
    (table,) = cli("sources", "tables", "warehouse", "--json")
    assert table["name"] == "tx" and table["rows"] == 480 and table["columns"][0]["name"] == "Time"
    assert "tx" in cli("sources", "tables", "warehouse")
    dataset = cli("ingest", "--source", "warehouse", "--table", "tx", "--slices", "4", "--json")
    assert dataset["rows"] == 480 and dataset["source"] == "source warehouse table tx"
    queried = cli("ingest", "--source", "warehouse", "--query", "SELECT * FROM tx LIMIT 100", "--name", "q", "--json")
    assert queried["rows"] == 100
    assert "removed source warehouse" in cli("sources", "remove", "warehouse")
    assert cli("sources", "list", "--json") == []
    assert "not registered" in cli("ingest", "--source", "warehouse", "--table", "tx", expect=3)


def test_attacks_and_secrets_are_refused_in_one_line(
    cli: Cli, lite: Path, store_env: dict[str, str | None], home: Path
) -> None:
    literal = cli("sources", "add", "pg", f"postgresql+psycopg://reader:{SECRET}@db.example/w", expect=2)
    assert "must not hold a password" in literal and SECRET not in literal and literal.count("\n") == 1
    in_query = cli("sources", "add", "pg", f"postgresql+psycopg://reader@db.example/w?password={SECRET}", expect=2)
    assert SECRET not in in_query
    own = store_env["CRISPML_DATABASE_URL"] or f"sqlite:///{home / 'crispml.db'}"
    assert "crispml's own database" in cli("sources", "add", "self", own, expect=2)
    assert cli("sources", "list", "--json") == []

    cli("sources", "add", "warehouse", f"sqlite:///{lite}")
    before = hashlib.sha256(lite.read_bytes()).hexdigest()
    for attack in ("DROP TABLE tx", "WITH x AS (SELECT 1) DELETE FROM tx", f"VACUUM INTO '{lite}.copy'"):
        refused = cli("ingest", "--source", "warehouse", "--query", attack, expect=2)
        assert "source 'warehouse'" in refused and refused.count("\n") == 1
    assert "has no table" in cli(
        "ingest", "--source", "warehouse", "--table", "tx; DROP TABLE tx", "--name", "x", expect=3
    )
    assert hashlib.sha256(lite.read_bytes()).hexdigest() == before and not Path(f"{lite}.copy").exists()
    assert cli("datasets", "--json") == []

    with_url = cli("ingest", "--url", f"postgresql+psycopg://u:{SECRET}@h/db", "--table", "tx", expect=2)
    assert "crispml sources add" in with_url and SECRET not in with_url

    # The password of a registered source lives in the environment; commands never print it.
    env = {**store_env, "SRC_PW": SECRET}
    ran = run(["sources", "add", "down", "postgresql+psycopg://reader:${SRC_PW}@127.0.0.1:1/w"], env)
    failed = run(["ingest", "--source", "down", "--table", "tx"], env, expect=7)
    listed = run(["sources", "list", "--format", "csv"], env)
    jobs = run(["jobs", "list", "--json"], env)
    perf = run(["perf", "--json"], env)
    assert "source 'down' cannot be reached" in failed.text and "refused" not in failed.text.lower()
    assert not [r for r in (ran, failed, listed, jobs, perf) if SECRET in r.text or "SRC_PW" in r.text]


def test_a_local_file_still_ingests_without_a_source(cli: Cli, small_csv: Path) -> None:
    assert cli("ingest", str(small_csv), "--name", "local", "--slices", "3", "--json")["name"] == "local"


@pytest.mark.parametrize("backend", ["sqlite"])  # the HTTP layer acts alike on both stores
def test_sources_over_remote(cli: Cli, client: object, server: object, lite: Path) -> None:
    url = server.url  # type: ignore[attr-defined]
    assert "added sql source lite" in cli("sources", "add", "lite", f"sqlite:///{lite}", "--remote", url)
    assert [s["name"] for s in cli("sources", "list", "--remote", url, "--json")] == ["lite"]
    assert cli("sources", "tables", "lite", "--remote", url, "--json")[0]["rows"] == 480
    remote = cli("ingest", "--source", "lite", "--table", "tx", "--slices", "4", "--remote", url, "--json")
    assert remote["rows"] == 480
    assert "removed source lite" in cli("sources", "remove", "lite", "--remote", url)
