"""A real server's log: JSON lines on stdout (uvicorn's too), an access line per request with its route
template, status, request id and principal, start-up lines, job lines, and request ids carried into the
job row and its perf records; a log file that cannot be written fails no request.

One server for the module (keys on, JSON, an unwritable log file); its stdout is read line by line.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from alembic.script import ScriptDirectory

import crispml
from crispml import storage
from tests.api.conftest import Server
from tests.conftest import crispml_source, wait_for

ADMIN = "ops"
MAX_UPLOAD = 100_000
# The head of the chain, not the highest number: revisions are numbered when written and chained when merged.
NEWEST_MIGRATION = ScriptDirectory(str(Path(storage.__file__).parent / "migrations")).get_current_head()


class LoggedServer:
    """A started server, its API key, its log file's path and every line it wrote to stdout."""

    def __init__(self, server: Server, key: str, log_file: Path) -> None:
        self.server, self.url, self.key, self.log_file = server, server.url, key, log_file
        self.lines: list[bytes] = []
        assert server.process is not None and server.process.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(server.process.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stdout: Any) -> None:
        for line in stdout:
            self.lines.append(line)

    def entries(self) -> list[dict[str, Any]]:
        """Every line so far, parsed: a line that is not one JSON object fails the test."""
        return [orjson.loads(line) for line in list(self.lines)]

    def wait_for_entry(self, **fields: Any) -> dict[str, Any]:
        """The first line whose fields include `fields`, once the writer thread has written it."""
        found: list[dict[str, Any]] = []

        def written() -> bool:
            found[:] = [e for e in self.entries() if fields.items() <= e.items()]
            return bool(found)

        wait_for(written, timeout=30)
        return found[0]

    def stop(self) -> None:
        self.server.stop()
        self._reader.join(timeout=30)


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Iterator[LoggedServer]:
    home = tmp_path_factory.mktemp("logs") / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    with crispml.connect(home=home, user="tester") as cml:
        key = cml.container.access.create(ADMIN, "admin").key
        # An aliased model, for the warm-up lines.
        raw = cml.ingest(crispml_source(small_csv), name="ccf")
        curated = cml.curate(cml.prepare(raw.id).id, algorithm="rf", frames="1-6")
        model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud", params={"n_estimators": 5})
        cml.persist(model.ref, alias="champion")
    blocker = home.parent / "not-a-folder"
    blocker.write_text("a file where the log folder should be")
    log_file = blocker / "crispml.log"  # unwritable, even for root
    env = {"CRISPML_LOG_FORMAT": "json", "CRISPML_REQUIRE_KEYS": "1", "CRISPML_LOG_FILE": str(log_file),
           "CRISPML_MAX_UPLOAD_BYTES": str(MAX_UPLOAD)}  # fmt: skip
    server = Server(home, None, env).start(log_level="info", stdout=subprocess.PIPE)
    running = LoggedServer(server, key, log_file)
    try:
        yield running
    finally:
        running.stop()


def bearer(key: str, request_id: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    return headers


def test_start_up_lines_name_the_database_the_revision_and_the_warmed_models(logged: LoggedServer) -> None:
    database = logged.wait_for_entry(logger="crispml.startup", level="INFO")
    assert database["database"].startswith("sqlite:///") and database["database"].endswith("crispml.db")
    migrations = logged.wait_for_entry(logger="crispml.startup", revision=NEWEST_MIGRATION)
    assert migrations["message"].startswith("migrations: ")
    warmed = logged.wait_for_entry(logger="crispml.operations", model="fraud@champion")
    assert warmed["version"] == "fraud/1" and warmed["seconds"] >= 0
    assert warmed["message"].startswith("warm-up: fraud@champion -> fraud/1 in ")
    logged.wait_for_entry(logger="uvicorn.error", message="Application startup complete.")
    first = logged.entries()[0]
    assert set(first) >= {"time", "level", "logger", "message"} and first["time"].endswith("Z")


def test_every_request_has_an_access_line_with_its_route_template_status_request_id_and_principal(
    logged: LoggedServer,
) -> None:
    health = httpx.get(f"{logged.url}/healthz", headers={"X-Request-ID": "probe-1"})
    assert health.status_code == 200 and health.headers["x-request-id"] == "probe-1"
    line = logged.wait_for_entry(logger="crispml.access", request_id="probe-1")
    assert line["route"] == line["path"] == "/healthz" and line["status"] == 200 and line["method"] == "GET"
    assert "principal" not in line and line["client"] == "127.0.0.1" and line["duration_ms"] > 0

    # Without a key: 401, and an id the server made up, in the answer and the line.
    refused = httpx.get(f"{logged.url}/api/v1/jobs")
    assert refused.status_code == 401
    generated = refused.headers["x-request-id"]
    assert len(generated) == 24
    line = logged.wait_for_entry(logger="crispml.access", request_id=generated)
    assert line["status"] == 401 and "principal" not in line

    # With one: the principal, and the route's template rather than its path.
    missing = httpx.get(f"{logged.url}/api/v1/jobs/job-nothere", headers=bearer(logged.key, "find-2"))
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "find-2"
    line = logged.wait_for_entry(logger="crispml.access", request_id="find-2")
    assert line["route"] == "/api/v1/jobs/{job_id}" and line["path"] == "/api/v1/jobs/job-nothere"
    assert line["principal"] == ADMIN and line["status"] == 404

    # No route: the path stands in for the template, cut short.
    long_path = "/no/such/" + "x" * 500
    assert httpx.get(f"{logged.url}{long_path}", headers={"X-Request-ID": "lost-3"}).status_code == 404
    line = logged.wait_for_entry(logger="crispml.access", request_id="lost-3")
    assert line["route"] == line["path"] == long_path[:200]

    # An id too long or not printable is replaced.
    replaced = httpx.get(f"{logged.url}/healthz", headers={"X-Request-ID": "y" * 65})
    assert replaced.headers["x-request-id"] != "y" * 65 and len(replaced.headers["x-request-id"]) == 24


def test_refusals_before_any_route_carry_the_request_id_too(logged: LoggedServer) -> None:
    too_large = httpx.post(f"{logged.url}/api/v1/labels", content=b"x" * (MAX_UPLOAD + 1),
                           headers=bearer(logged.key, "big-4"))  # fmt: skip
    assert too_large.status_code == 413 and too_large.headers["x-request-id"] == "big-4"
    assert logged.wait_for_entry(logger="crispml.access", request_id="big-4")["status"] == 413

    foreign = httpx.get(f"{logged.url}/healthz", headers={"Host": "evil.example", "X-Request-ID": "host-5"})
    assert foreign.status_code == 403 and foreign.headers["x-request-id"] == "host-5"
    assert logged.wait_for_entry(logger="crispml.access", request_id="host-5")["status"] == 403


def test_a_job_carries_its_request_id_into_its_row_its_log_lines_and_its_perf_records(logged: LoggedServer) -> None:
    submitted = httpx.post(f"{logged.url}/api/v1/datasets", headers=bearer(logged.key, "ingest-7"),
                           json={"source": {"path": "creditcard.csv"}, "name": "again"}, timeout=30)  # fmt: skip
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert job["request_id"] == "ingest-7"
    done = httpx.get(f"{logged.url}/api/v1/jobs/{job['id']}?wait=true&timeout=60", headers=bearer(logged.key),
                     timeout=90).json()  # fmt: skip
    assert done["status"] == "succeeded" and done["request_id"] == "ingest-7"

    access = logged.wait_for_entry(logger="crispml.access", request_id="ingest-7")
    assert access["route"] == "/api/v1/datasets" and access["status"] == 202 and access["principal"] == ADMIN
    started = logged.wait_for_entry(
        logger="crispml.jobs", job_id=job["id"], message=f"job {job['id']} (ingest) started"
    )
    assert started["request_id"] == "ingest-7" and started["principal"] == ADMIN
    ended = logged.wait_for_entry(logger="crispml.jobs", job_id=job["id"], status="succeeded")
    assert ended["request_id"] == "ingest-7" and ended["duration_s"] > 0 and ended["kind"] == "ingest"
    progress = [e for e in logged.entries() if e.get("job_id") == job["id"] and "phase" in e]
    assert progress and all(e["request_id"] == "ingest-7" for e in progress)

    perf = httpx.get(f"{logged.url}/api/v1/perf?method=ingest", headers=bearer(logged.key), timeout=30).json()
    assert [r["request_id"] for r in perf["items"]] == ["ingest-7", None]  # newest first; the fixture's had none


def test_a_log_file_that_cannot_be_written_fails_no_request_and_every_line_is_json(logged: LoggedServer) -> None:
    for n in range(5):
        assert httpx.get(f"{logged.url}/healthz", headers={"X-Request-ID": f"many-{n}"}).status_code == 200
    warning = logged.wait_for_entry(logger="crispml.logs", level="WARNING")
    assert warning["message"].startswith(f"cannot write log records to {logged.log_file}: ")
    assert not logged.log_file.parent.is_dir()
    logged.wait_for_entry(logger="crispml.access", request_id="many-4")

    logged.stop()
    entries = logged.entries()  # each line one JSON object, the last ones written at shut-down included
    assert entries[-1]["logger"] == "uvicorn.error" and entries[-1]["message"].startswith("Finished server process")
    assert {e["logger"] for e in entries} >= {"uvicorn.error", "crispml.access", "crispml.startup", "crispml.jobs"}
