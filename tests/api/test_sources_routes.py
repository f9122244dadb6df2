"""The sources routes on a real server: names and kinds, the table browser, ingestion by source name, and
a database URL from a client refused. The password is in the server's environment only: it must not show
in any answer, job listing or the server's log."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from crispml.client import Client
from tests.api.conftest import CRISPML, Server
from tests.conftest import wait_for


@pytest.fixture
def database_url() -> None:
    """The HTTP and CLI layers tested here act alike on both stores; the services' and storage's tests
    run on SQLite and PostgreSQL, so these start one server per test, not two."""
    return None


SECRET = "hunter2-very-secret"


@pytest.fixture
def logged_server(make_server: Callable[..., Server], home: Path, tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    """A server with SRC_PW in its environment, its stdout and stderr (info level) written to a file."""
    server = make_server(SRC_PW=SECRET)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        command = [CRISPML, "serve", "--port", str(server.port), "--log-level", "debug"]
        server.process = subprocess.Popen(command, env=server.env, stdout=out, stderr=out)

        def up() -> bool:
            try:
                return httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, timeout=60, poll=0.1)
        yield server, log


@pytest.fixture
def warehouse(source_postgres_url: str, small_csv: Path) -> Iterator[str]:
    engine = create_engine(source_postgres_url)
    pd.read_csv(small_csv).head(240).to_sql("tx", engine, index=False)
    engine.dispose()
    yield source_postgres_url


def _rows(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = int(connection.scalar(text("SELECT count(*) FROM tx")) or 0)
    engine.dispose()
    return found


def test_sources_are_browsed_and_ingested_by_name_and_the_password_shows_nowhere(
    logged_server: tuple[Server, Path], warehouse: str
) -> None:
    server, log = logged_server
    api = f"{server.url}/api/v1"
    referenced = warehouse.replace("@", ":${SRC_PW}@", 1)
    answers: list[str] = []

    literal = httpx.post(f"{api}/sources", json={"name": "pg", "url": referenced.replace("${SRC_PW}", SECRET)})
    assert literal.status_code == 422 and "must not hold a password" in literal.text
    added = httpx.post(f"{api}/sources", json={"name": "pg", "url": referenced})
    assert added.status_code == 201 and set(added.json()) == {"name", "kind", "created_by", "created_at"}
    down = "postgresql+psycopg://postgres:${SRC_PW}@127.0.0.1:1/nothing"
    assert httpx.post(f"{api}/sources", json={"name": "down", "url": down}).status_code == 201
    listed = httpx.get(f"{api}/sources")
    assert [(s["name"], s["kind"]) for s in listed.json()["items"]] == [("down", "sql"), ("pg", "sql")]
    assert "SRC_PW" not in listed.text and "127.0.0.1" not in listed.text
    tables = httpx.get(f"{api}/sources/pg/tables").json()["items"]
    assert [(t["name"], t["rows"]) for t in tables] == [("tx", 240)]
    assert [c["name"] for c in tables[0]["columns"]][:2] == ["Time", "V1"]
    assert httpx.get(f"{api}/sources/nope/tables").status_code == 404
    unreachable = httpx.get(f"{api}/sources/down/tables")
    assert unreachable.status_code == 503 and unreachable.json()["detail"] == "source 'down' cannot be reached"
    answers += [literal.text, added.text, listed.text, unreachable.text]

    with_url = httpx.post(f"{api}/datasets", json={"source": {"url": referenced, "table": "tx"}})
    assert with_url.status_code == 422 and "crispml sources add" in with_url.text
    assert httpx.get(f"{api}/jobs").json()["items"] == []  # refused before any job was queued

    with Client(server.url, timeout=120) as client:
        dataset = client.ingest(source="pg", table="tx", slices=4)
        assert dataset["rows"] == 240 and dataset["source"] == "source pg table tx"
        for spec, status in (({"source": "pg", "query": "COMMIT; DROP TABLE tx"}, "InvalidInput"),
                             ({"source": "down", "table": "tx"}, "Unavailable")):  # fmt: skip
            job = httpx.post(f"{api}/datasets?wait=true&timeout=60", json={"source": spec}).json()
            assert job["status"] == "failed" and job["error"]["title"] == status
    assert _rows(warehouse) == 240

    jobs = httpx.get(f"{api}/jobs")
    assert len(jobs.json()["items"]) == 3 and ":1/" not in jobs.text
    answers += [with_url.text, jobs.text, httpx.get(f"{api}/datasets").text, httpx.get(f"{api}/perf").text]
    assert httpx.delete(f"{api}/sources/down").status_code == 204
    server.stop()
    assert not [a for a in answers if SECRET in a]
    assert SECRET not in log.read_text(errors="replace")


def test_rest_file_paths_stay_inside_the_data_folder_and_registered_folders(
    logged_server: tuple[Server, Path], home: Path, tmp_path: Path, small_csv: Path
) -> None:
    server, _ = logged_server
    api = f"{server.url}/api/v1"
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "cards.csv").write_bytes(small_csv.read_bytes())
    (tmp_path / "outside.csv").write_bytes(small_csv.read_bytes())
    (data / "link.csv").symlink_to(tmp_path / "outside.csv")
    for path in ("../outside.csv", str(tmp_path / "outside.csv"), "link.csv", "../../../../etc/passwd"):
        refused = httpx.post(f"{api}/datasets", json={"source": {"path": path}})
        assert refused.status_code == 403 and "outside the data folder" in refused.text, path
    assert httpx.get(f"{api}/jobs").json()["items"] == []

    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "cards.csv").write_bytes(small_csv.read_bytes())
    assert httpx.post(f"{api}/sources", json={"name": "landing", "url": str(landing)}).status_code == 201
    ok = httpx.post(
        f"{api}/datasets?wait=true&timeout=120", json={"source": {"source": "landing", "path": "cards.csv"}}
    )
    assert ok.json()["status"] == "succeeded"
    escaped = httpx.post(f"{api}/datasets?wait=true&timeout=60",
                         json={"source": {"source": "landing", "path": "../outside.csv"}}).json()  # fmt: skip
    assert escaped["status"] == "failed" and escaped["error"]["title"] == "Forbidden"
    assert len(httpx.get(f"{api}/datasets").json()["items"]) == 1
