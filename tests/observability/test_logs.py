"""The log configuration in one process: what a line holds in each format, the rotating file, and log
destinations that fail or fall behind without failing the calls that log."""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
from fastapi.testclient import TestClient

from crispml.api.app import create_app
from crispml.identity import Principal, Role, acting_as, serving_request
from crispml.observability import logs
from crispml.observability.perf import PerfClock
from crispml.settings import Settings
from tests.conftest import wait_for

log = logging.getLogger("crispml.test_logs")
Attach = Callable[..., logs.BackgroundHandler]
WRITERS = ["thread", "process"]
"""Lines are formatted and written by a thread of the process, or by a child process (a server's default)."""


class Route:
    path = "/api/v1/models/{name}/score"


SCORE = {"type": "http", "method": "POST", "path": "/api/v1/models/fraud/score", "route": Route,
         "client": ("10.0.0.7", 50123)}  # fmt: skip


@pytest.fixture
def attach(capfd: pytest.CaptureFixture[str]) -> Iterator[Attach]:
    """Put a background handler (writing to the captured stdout) on the root logger, as `log_config` does."""
    root = logging.getLogger()
    level, attached = root.level, []

    def make(
        log_format: str = "json", file: Path | None = None, max_bytes: int = 1 << 20, writer: str = "thread"
    ) -> logs.BackgroundHandler:
        handler = logs.background_handler(log_format, str(file) if file else None, max_bytes, 2, writer)  # type: ignore[arg-type]
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        attached.append(handler)
        return handler

    yield make
    for handler in attached:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


def written(handler: logs.BackgroundHandler, capfd: pytest.CaptureFixture[str]) -> list[str]:
    """Stop the writer thread (it writes what is queued first, and a writer process ends once it wrote what
    it was sent) and return the lines written to stdout (the file descriptor the writer process writes)."""
    handler.close()
    return capfd.readouterr().out.splitlines()


def log_a_request() -> None:
    with serving_request("req-1"), acting_as(Principal("alice", Role.SCIENTIST)):
        log.info("scored %d rows", 3, extra={"model": "fraud/1"})
        logs.access(SCORE, 201, 0.0123)
        try:
            raise ValueError("bad row")
        except ValueError:
            log.exception("could not score")
    log.warning("outside any request")


@pytest.mark.parametrize("writer", WRITERS)
def test_json_lines_carry_time_level_logger_message_request_id_principal_and_extras(
    attach: Attach, capfd: pytest.CaptureFixture[str], writer: str
) -> None:
    handler = attach("json", writer=writer)
    log_a_request()
    scored, access, failed, outside = [orjson.loads(line) for line in written(handler, capfd)]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", scored.pop("time"))
    assert scored == {"level": "INFO", "logger": "crispml.test_logs", "message": "scored 3 rows",
                      "request_id": "req-1", "principal": "alice", "model": "fraud/1"}  # fmt: skip
    access.pop("time")
    assert access == {
        "level": "INFO", "logger": "crispml.access", "message": "POST /api/v1/models/fraud/score 201 12.3 ms",
        "method": "POST", "route": "/api/v1/models/{name}/score", "path": "/api/v1/models/fraud/score",
        "status": 201, "duration_ms": 12.3, "request_id": "req-1", "principal": "alice", "client": "10.0.0.7",
    }  # fmt: skip
    assert failed["level"] == "ERROR" and failed["request_id"] == "req-1"
    assert failed["exception"].startswith("Traceback") and "ValueError: bad row" in failed["exception"]
    assert outside["message"] == "outside any request" and "request_id" not in outside and "principal" not in outside


def test_without_crispml_logging_the_access_line_goes_through_its_logger(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An app embedded in another program's logging: no background handler, the logger's handlers instead.
    monkeypatch.setattr(logs, "_background", None)
    with caplog.at_level(logging.INFO, logger=logs.ACCESS), serving_request("req-2"):
        logs.access({**SCORE, "route": None, "path": "/nowhere"}, 404, 0.0005)
    [record] = [r for r in caplog.records if r.name == logs.ACCESS]
    assert record.getMessage() == "POST /nowhere 404 0.5 ms"
    fields = {key: getattr(record, key) for key in ("method", "route", "path", "status", "duration_ms", "request_id")}
    assert fields == {"method": "POST", "route": "/nowhere", "path": "/nowhere", "status": 404, "duration_ms": 0.5,
                      "request_id": "req-2"}  # fmt: skip
    assert record.client == "10.0.0.7" and not hasattr(record, "principal")


@pytest.mark.parametrize("writer", WRITERS)
def test_text_lines_are_readable(attach: Attach, capfd: pytest.CaptureFixture[str], writer: str) -> None:
    handler = attach("text", writer=writer)
    log_a_request()
    lines = written(handler, capfd)
    time = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(rf"{time} INFO    crispml.test_logs: scored 3 rows  request_id=req-1 principal=alice "
                        r"model=fraud/1", lines[0])  # fmt: skip
    assert re.fullmatch(rf"{time} INFO    crispml.access: POST /api/v1/models/fraud/score 201 12.3 ms  method=POST "
                        r"route=/api/v1/models/\{name\}/score path=/api/v1/models/fraud/score status=201 "
                        r"duration_ms=12.3 request_id=req-1 principal=alice client=10.0.0.7", lines[1])  # fmt: skip
    assert lines[2].endswith("ERROR   crispml.test_logs: could not score  request_id=req-1 principal=alice")
    assert lines[3] == "Traceback (most recent call last):" and lines[-2] == "ValueError: bad row"
    assert re.fullmatch(rf"{time} WARNING crispml.test_logs: outside any request", lines[-1])


@pytest.mark.parametrize("writer", WRITERS)
def test_the_log_file_holds_the_same_lines_and_rotates_at_its_size(
    attach: Attach, capfd: pytest.CaptureFixture[str], tmp_path: Path, writer: str
) -> None:
    file = tmp_path / "new-folder" / "crispml.log"
    handler = attach("json", file, max_bytes=2048, writer=writer)
    for n in range(100):
        log.info("line %d", n, extra={"padding": "x" * 40})
    stdout = written(handler, capfd)
    assert len(stdout) == 100
    files = sorted(file.parent.iterdir())
    assert [f.name for f in files] == ["crispml.log", "crispml.log.1", "crispml.log.2"]  # two backups kept
    assert all(0 < f.stat().st_size <= 2048 for f in files)
    kept = [line for f in reversed(files) for line in f.read_text().splitlines()]
    assert kept == stdout[-len(kept) :]


@pytest.mark.parametrize("where", ["/dev/full", "under-a-file"])
def test_a_log_file_that_cannot_be_written_is_reported_once_and_raises_nothing(
    attach: Attach, capfd: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    if where == "under-a-file":
        (tmp_path / "a-file").write_text("")
        file = tmp_path / "a-file" / "crispml.log"
    else:
        file = Path(where)
    handler = attach("json", file)
    for n in range(50):
        log.info("line %d", n)
    lines = [orjson.loads(line) for line in written(handler, capfd)]
    assert [e["message"] for e in lines if e["logger"] == "crispml.test_logs"] == [f"line {n}" for n in range(50)]
    warnings = [e["message"] for e in lines if e["logger"] == "crispml.logs"]
    assert len(warnings) == 1 and warnings[0].startswith(f"cannot write log records to {file}: ")


def test_a_writer_process_that_dies_hands_the_writing_back_to_the_thread(
    attach: Attach, capfd: pytest.CaptureFixture[str]
) -> None:
    handler = attach("json", writer="process")
    sidecar = handler.listener.sidecar
    assert sidecar is not None
    log.info("before")
    wait_for(lambda: "before" in capfd.readouterr().out)
    os.kill(sidecar.pid, signal.SIGKILL)
    # The lines the pipe takes until the thread finds the child gone (a dying process reads no more, but
    # its pipe takes lines until it has exited) may be lost with it; from then on, none is.
    wait_for(lambda: bool(log.info("while it dies") or handler.listener.sidecar is None))
    assert not psutil.pid_exists(sidecar.pid)  # reaped, not left a zombie
    for n in range(3):
        log.info("after %d", n)
    lines = [orjson.loads(line) for line in written(handler, capfd)]
    messages = [line["message"] for line in lines if line["logger"] == "crispml.test_logs"]
    assert messages[-3:] == [f"after {n}" for n in range(3)]
    assert any(line["message"].startswith("the log writer process ended") for line in lines)


def test_a_value_json_cannot_carry_costs_its_line_only(attach: Attach, capfd: pytest.CaptureFixture[str]) -> None:
    handler = attach("json", writer="process")
    logs.access({**SCORE, "path": "/api/v1/\udc80"}, 404, 0.001)  # a lone surrogate: no JSON, no line
    logs.access(SCORE, 201, 0.002)
    shown: list[str] = []
    wait_for(lambda: bool(shown.extend(capfd.readouterr().out.splitlines()) or shown))
    assert handler.listener.sidecar is not None  # the writer process goes on writing
    lines = [orjson.loads(line) for line in shown + written(handler, capfd)]
    assert [(line["path"], line["status"]) for line in lines] == [("/api/v1/models/fraud/score", 201)]


def test_a_writer_process_that_cannot_start_leaves_the_writing_to_the_thread(
    attach: Attach, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "no-python-here"))
    handler = attach("json", writer="process")
    assert handler.listener.sidecar is None
    log.info("still written")
    handler.close()
    captured = capfd.readouterr()
    assert [orjson.loads(line)["message"] for line in captured.out.splitlines()] == ["still written"]
    assert "could not start the logs writer process" in captured.err


class Stuck:
    """A stdout that blocks until released: the writer thread falls behind."""

    def __init__(self) -> None:
        self.released = threading.Event()
        self.text: list[str] = []

    def write(self, text: str) -> int:
        self.released.wait(60)
        self.text.append(text)
        return len(text)

    def flush(self) -> None:
        pass


def test_records_beyond_the_queue_bound_are_dropped_counted_and_reported(
    attach: Attach, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = Stuck()
    monkeypatch.setattr("sys.stdout", stuck)
    handler = attach("json")
    for n in range(logs.MAX_QUEUED + logs.LINES_PER_WRITE + 10):
        log.info("line %d", n)
    # The writer holds the lines it gathered (1 to LINES_PER_WRITE) while it waits; the queue holds
    # MAX_QUEUED more.
    assert 9 <= handler.dropped <= logs.LINES_PER_WRITE + 10
    stuck.released.set()
    handler.close()
    report = orjson.loads("".join(stuck.text).splitlines()[-1])
    assert report["logger"] == "crispml.logs" and report["dropped"] == handler.dropped
    assert report["message"].startswith(f"{handler.dropped} log records dropped")


def test_a_perf_record_carries_the_request_it_measured() -> None:
    with serving_request("req-9"):
        clock = PerfClock("score")
    assert clock.finish().request_id == "req-9"
    assert PerfClock("score").finish().request_id is None


def test_an_unexpected_error_is_answered_with_its_request_id_and_logged_with_it(
    attach: Attach, capfd: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app = create_app(Settings(home=tmp_path))

    async def ping() -> Any:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", ping, name="ping")  # a public route's name: no key needed
    handler = attach("json")
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/boom", headers={"X-Request-ID": "err-1"})
    assert answer.status_code == 500 and answer.headers["x-request-id"] == "err-1"
    lines = [orjson.loads(line) for line in written(handler, capfd)]
    error = next(e for e in lines if e["logger"] == "crispml.api")
    assert error["request_id"] == "err-1" and "RuntimeError: a bug" in error["exception"]
    access = next(e for e in lines if e["logger"] == "crispml.access")
    assert access["status"] == 500 and access["request_id"] == "err-1" and access["route"] == "/boom"
