"""The InfluxDB exporter against a real InfluxDB 1.6 (`/usr/bin/influxd`, one per module): crispml's
methods become points with the reference's perfLogExit fields; a paused or dead InfluxDB slows and fails
nothing, its points are dropped and counted, and a restarted one receives points again. The InfluxDB 2
write API is checked against a small HTTP server of the test's own that records what it is sent (no
influxd 2 is installed here), and the Grafana dashboard's queries are run against the real influxd."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psutil
import pytest
import yaml
from prometheus_client import REGISTRY

from crispml.container import Container, influx_exporter
from crispml.domain import Outcome, PerfRecord
from crispml.errors import InvalidInput, NotFound
from crispml.local import Crispml
from crispml.observability.influx import InfluxExporter, InfluxTarget
from crispml.observability.influx_lines import perf_line
from crispml.observability.metrics import MULTIPROC_ENV
from crispml.observability.sidecar import WriterKind
from crispml.settings import Settings, load_settings
from tests.api.conftest import Server
from tests.conftest import FAST_RF, crispml_source, wait_for
from tests.observability.influxd import Influxd
from tests.storage.test_group_commit import records

DATABASE = "crispml"
MEASUREMENT = "crispml_perf"
GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"
CHAIN = {"ingest", "prepare", "curate", "train", "persist", "score"}


@pytest.fixture(scope="module")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Influxd]:
    server = Influxd(tmp_path_factory.mktemp("influxd")).start()
    server.query(f'CREATE DATABASE "{DATABASE}"')
    yield server
    server.kill()


@pytest.fixture(scope="module")
def run(influxd: Influxd, small_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crispml]:
    """crispml's Python API with the exporter on: the reference chain up to a champion, a few scores and
    one failed call, all written to the influxd."""
    settings = load_settings(
        home=tmp_path_factory.mktemp("home"),
        user="tester",
        influx_url=influxd.url,
        influx_flush_s=0.1,
        influx_batch_size=10,
        influx_buffer_size=20,
        influx_timeout_s=5.0,
    )
    with Crispml(Container(settings)) as cml:
        raw = cml.ingest(crispml_source(small_csv), name="ccf")
        curated = cml.curate(cml.prepare(raw.id).id, algorithm="rf", frames="1-6")
        model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud", params=FAST_RF)
        cml.persist(model.ref, alias="champion")
        for n in range(3):
            cml.score("fraud@champion", records=records(cml, [f"r-{n}"]))
        with pytest.raises(NotFound):
            cml.prepare("does-not-exist")
        wait_for(lambda: _methods(influxd) >= CHAIN, timeout=30)
        yield cml


def _methods(influxd: Influxd) -> set[str]:
    series = influxd.query(f'SHOW TAG VALUES FROM "{MEASUREMENT}" WITH KEY = "method"', DATABASE)
    return {value for _key, value in series[0]["values"]} if series else set()


def _dropped(reason: str) -> float:
    return REGISTRY.get_sample_value("crispml_influx_points_dropped_total", {"reason": reason}) or 0.0


def _all_dropped() -> float:
    return sum(_dropped(reason) for reason in ("buffer_full", "write_failed", "shutdown"))


def test_each_method_call_is_a_point_with_the_reference_fields(run: Crispml, influxd: Influxd) -> None:
    # The fixture waited for each method's first point; the later scores' points may still be on their way.
    wait_for(lambda: len(influxd.rows(f'SELECT * FROM "{MEASUREMENT}"', DATABASE)) >= 8, timeout=30)
    points = influxd.rows(f'SELECT * FROM "{MEASUREMENT}"', DATABASE)
    exporter = run.container.influx
    assert exporter is not None and len(points) >= 8
    # The writer process reports what it wrote twice a second.
    wait_for(lambda: exporter.stats.written >= len(points), timeout=10)
    train = next(p for p in points if p["method"] == "train")
    assert train["dataset"] and train["model"] == "fraud/1" and train["outcome"] == "ok" and train["host"]
    assert train["duration_s"] > 0 and train["cpu_s"] > 0 and train["peak_rss_mb"] > 10 and train["gc_runs"] >= 0
    assert train["pid"] == os.getpid()
    ingest = next(p for p in points if p["method"] == "ingest")
    assert ingest["rows_in"] == ingest["rows_out"] == 24_000 and ingest["model"] is None
    scores = [p for p in points if p["method"] == "score"]
    assert len(scores) == 3 and all(p["rows_in"] == 1 and p["model"] == "fraud/1" for p in scores)
    failed = [p for p in points if p["outcome"] == "error"]
    assert [p["method"] for p in failed] == ["prepare"]
    # Stamped at the call's exit, as perfLogExit: the stored records say when each began and how long it took.
    with run.store.transaction() as uow:
        stored = next(r for r in uow.perf.newest() if r.method == "train")
    exit_time = stored.started_at.replace(tzinfo=stored.started_at.tzinfo or UTC) + timedelta(seconds=stored.duration_s)
    assert abs(datetime.fromisoformat(train["time"]) - exit_time) < timedelta(milliseconds=1)


@dataclass(frozen=True)
class _RequestRecord(PerfRecord):
    """A perf record that knows the HTTP request it served (the exporter writes `request_id` when one does)."""

    request_id: str | None = None


def _record(pid: int, **values: Any) -> PerfRecord:
    base: dict[str, Any] = {
        "method": "score", "started_at": datetime.now(UTC), "duration_s": 0.25, "rows_in": 1, "rows_out": 1,
        "peak_rss_mb": 100.0, "cpu_s": 0.1, "gc_runs": 0, "outcome": Outcome.OK, "pid": pid,
    }  # fmt: skip
    return _RequestRecord(**{**base, **values})


HOSTILE = {
    "a,b c=d": "a,b c=d",
    'quote"s and \\ backslash': 'quote"s and \\ backslash',
    "back\\,slash before a comma": "back\\,slash before a comma",
    "new\nline\rreturn": "new line return",
    "tab\there": "tab\there",
    "ends in a backslash\\": "ends in a backslash",
    "ünïcødé €": "ünïcødé €",
    "=": "=",
}


@pytest.mark.parametrize("writer", ["thread", "process"])
def test_hostile_names_are_escaped_and_read_back_as_written(influxd: Influxd, writer: WriterKind) -> None:
    measurement = f"hostile, names {writer}"
    exporter = InfluxExporter(InfluxTarget(influxd.url, measurement=measurement), flush_s=0.05, writer=writer).start()
    try:
        for pid, name in enumerate(HOSTILE):
            exporter.observe(_record(pid, dataset=name, model=name, method=f"m {name}", request_id=f'{name}"\\'))
        exporter.observe(_record(99, dataset="", model=None, duration_s=float("nan"), rows_in=None))
        wait_for(lambda: exporter.stats.written == len(HOSTILE) + 1, timeout=20)
    finally:
        exporter.close()
    points = {p["pid"]: p for p in influxd.rows(f'SELECT * FROM "{measurement}"', DATABASE)}
    for pid, (name, stored) in enumerate(HOSTILE.items()):
        assert points[pid]["dataset"] == points[pid]["model"] == stored
        assert points[pid]["method"] == f"m {stored}"
        assert points[pid]["request_id"] == f'{name}"\\'  # a string field keeps everything
    empty = points[99]
    assert empty["dataset"] is None and empty["model"] is None and empty["duration_s"] is None
    assert empty["rows_in"] is None and empty["cpu_s"] == 0.1
    assert exporter.stats.dropped == 0


def test_a_figure_json_cannot_carry_is_counted_and_the_others_written(influxd: Influxd) -> None:
    target = InfluxTarget(influxd.url, measurement="unsendable")
    exporter = InfluxExporter(target, flush_s=0.05, writer="process").start()
    try:
        exporter.observe(_record(1, dataset="lone \udc80 surrogate"))
        exporter.observe(_record(2, dataset="fine"))
        wait_for(lambda: exporter.stats.written == 1 and exporter.stats.dropped == 1, timeout=20)
    finally:
        exporter.close()
    assert [p["pid"] for p in influxd.rows('SELECT * FROM "unsendable"', DATABASE)] == [2]


def test_a_paused_then_dead_influxdb_slows_nothing_and_its_points_are_counted(run: Crispml, influxd: Influxd) -> None:
    exporter = run.container.influx
    assert exporter is not None
    before = exporter.stats
    full, counted = _dropped("buffer_full"), _all_dropped()
    influxd.pause()  # connections open, nothing answered: each write waits for its timeout
    try:
        slowest = 0.0

        def score_until_dropped() -> bool:
            nonlocal slowest
            started = time.perf_counter()
            run.score("fraud@champion", records=records(run, ["while-paused"]))
            slowest = max(slowest, time.perf_counter() - started)
            return _dropped("buffer_full") > full

        wait_for(score_until_dropped, timeout=60)
        # A call that waited for InfluxDB would take the exporter's timeout (5 s) at least.
        assert slowest < 5.0
        # Bounded: 20 in the writer process, and at most 20 more waiting to be sent to it.
        assert exporter.stats.dropped > before.dropped and exporter.stats.buffered <= 40

        # Closing with InfluxDB hung ends within its bound; what it could not write is counted.
        closing = InfluxExporter(InfluxTarget(influxd.url), flush_s=60, timeout_s=0.5, close_timeout_s=0.5).start()
        for pid in range(5):
            closing.observe(_record(pid))
        started = time.monotonic()
        closing.close()
        assert time.monotonic() - started < 5
        assert closing.stats.dropped == 5 and closing.stats.written == 0
    finally:
        influxd.kill()
    wait_for(lambda: exporter.stats.failed_flushes > before.failed_flushes)
    # Every point either exporter dropped is in the Prometheus counter too.
    dropped_here = exporter.stats.dropped - before.dropped + closing.stats.dropped
    assert _all_dropped() - counted >= dropped_here

    influxd.start()
    # What the buffer kept through the outage goes first; points scored before it has drained would find
    # it full and be dropped (and counted), which is the exporter's promise, not what this part checks.
    wait_for(lambda: exporter.stats.buffered == 0, timeout=30)
    restarted = datetime.now(UTC)
    for n in range(3):
        run.score("fraud@champion", records=records(run, [f"after-{n}"]))
    since = f"SELECT count(duration_s) FROM {MEASUREMENT} WHERE method = 'score' AND time > '{restarted.isoformat()}'"
    wait_for(lambda: sum(row["count"] for row in influxd.rows(since, DATABASE)) >= 3, timeout=30)
    assert exporter.stats.written > before.written


def test_a_server_sends_its_perf_records_and_the_last_ones_as_it_stops(influxd: Influxd, tmp_path: Path) -> None:
    env = {"CRISPML_INFLUX_URL": influxd.url, "CRISPML_INFLUX_MEASUREMENT": "served", "CRISPML_INFLUX_FLUSH_S": "3600"}
    server = Server(tmp_path / "home", None, env).start()
    try:
        answer = httpx.post(f"{server.url}/api/v1/datasets/nope/prepare", json={}, timeout=30)
        assert answer.status_code == 404
    finally:
        server.stop()  # an hour before its next flush: only the exporter's close can have written it
    assert server.process is not None
    (point,) = influxd.rows('SELECT * FROM "served"', DATABASE)
    assert point["method"] == "prepare" and point["outcome"] == "error" and point["pid"] == server.process.pid


# -- InfluxDB 2 ------------------------------------------------------------------------------------
class _Recorder(BaseHTTPRequestHandler):
    """Records each request it is sent; answers with the server's `status`."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.requests.append((self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def influx2() -> Iterator[ThreadingHTTPServer]:
    """A stand-in for InfluxDB 2's write endpoint (none is installed here): it records what it is sent."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests, server.status = [], 204  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _settings_for(influx2: ThreadingHTTPServer, token_file: Path) -> Settings:
    host, port = influx2.server_address[:2]
    return load_settings(influx_url=f"http://{host!s}:{port}/", influx_bucket="perf bucket", influx_org="acme & co",
                         influx_token_file=token_file, influx_flush_s=0.05, influx_measurement="m2")  # fmt: skip


def test_the_writer_process_counts_in_the_server_not_in_the_workers_metrics_folder(
    influx2: ThreadingHTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With --workers N a worker's children would otherwise add their own files to the folder /metrics sums,
    # and each point the child drops would be counted twice.
    folder = tmp_path / "metrics"
    folder.mkdir()
    monkeypatch.setenv(MULTIPROC_ENV, str(folder))
    host, port = influx2.server_address[:2]
    exporter = InfluxExporter(InfluxTarget(f"http://{host!s}:{port}"), flush_s=0.05, writer="process").start()
    try:
        exporter.observe(_record(8))
        wait_for(lambda: exporter.stats.written == 1, timeout=20)
    finally:
        exporter.close()
    assert len(influx2.requests) == 1  # type: ignore[attr-defined]
    assert list(folder.iterdir()) == []


def test_a_writer_process_that_dies_hands_the_points_back_to_the_thread(influx2: ThreadingHTTPServer) -> None:
    host, port = influx2.server_address[:2]
    exporter = InfluxExporter(InfluxTarget(f"http://{host!s}:{port}"), flush_s=0.05, writer="process").start()
    try:
        sidecar = exporter._sidecar
        assert sidecar is not None
        os.kill(sidecar.pid, signal.SIGKILL)
        # Points the pipe took while the child was dying may be lost with it; from then on, none is.
        wait_for(lambda: bool(exporter.observe(_record(0)) or exporter._sidecar is None or not sidecar.alive))
        wait_for(lambda: not psutil.pid_exists(sidecar.pid))  # reaped, not left a zombie
        for pid in range(1, 4):
            exporter.observe(_record(pid))
        wait_for(lambda: {1, 2, 3} <= _pids_written(influx2), timeout=20)
    finally:
        exporter.close()


def _pids_written(influx2: ThreadingHTTPServer) -> set[int]:
    lines = [line for _path, _headers, body in influx2.requests for line in body.decode().splitlines()]  # type: ignore[attr-defined]
    return {int(re.search(r"pid=(\d+)i", line).group(1)) for line in lines}  # type: ignore[union-attr]


def test_the_influxdb2_api_gets_bucket_org_and_token(
    influx2: ThreadingHTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("s3cr3t-T0KEN==\n")
    settings = _settings_for(influx2, token_file)
    exporter = influx_exporter(settings)
    assert exporter is not None
    exporter.start()
    try:
        exporter.observe(_record(7, dataset="ccf", request_id="req-1"))
        wait_for(lambda: exporter.stats.written == 1, timeout=20)
        path, headers, body = influx2.requests[0]  # type: ignore[attr-defined]
        url = urlsplit(path)
        assert url.path == "/api/v2/write"
        assert parse_qs(url.query) == {"org": ["acme & co"], "bucket": ["perf bucket"], "precision": ["ns"]}
        assert headers["Authorization"] == "Token s3cr3t-T0KEN=="
        line = body.decode()
        assert re.fullmatch(
            r"m2,dataset=ccf,host=[^ ]+,method=score,outcome=ok duration_s=0\.25,cpu_s=0\.1,peak_rss_mb=100\.0,"
            r'gc_runs=0i,rows_in=1i,rows_out=1i,pid=7i,request_id="req-1" \d{19}',
            line,
        ), line
        # A refused write is dropped at once (no retry), and nothing tells the token.
        influx2.status = 401  # type: ignore[attr-defined]
        with caplog.at_level("DEBUG"):
            exporter.observe(_record(8))
            wait_for(lambda: exporter.stats.failed_flushes == 1, timeout=20)
        assert len(influx2.requests) == 2  # type: ignore[attr-defined]
        assert exporter.stats.dropped == 1 and "answered 401" in caplog.text
    finally:
        exporter.close()
    assert InfluxTarget("http://me:pw@influx:8086").shown_url == "http://influx:8086/write"
    shown = [caplog.text, repr(settings), settings.model_dump_json(), repr(exporter.target), str(exporter.target)]
    assert not any("s3cr3t" in text for text in shown)


@pytest.mark.parametrize(
    ("overrides", "setting"),
    [
        ({"influx_url": "127.0.0.1:8086"}, "CRISPML_INFLUX_URL"),
        ({"influx_url": "http://x", "influx_bucket": "b"}, "CRISPML_INFLUX_ORG"),
        ({"influx_measurement": "two words"}, "CRISPML_INFLUX_MEASUREMENT"),
        ({"influx_batch_size": 0}, "CRISPML_INFLUX_BATCH_SIZE"),
        ({"influx_url": "http://x", "influx_token_file": "/nonexistent/token"}, "CRISPML_INFLUX_TOKEN_FILE"),
        ({"influx_url": "http://x", "influx_token_file": "EMPTY"}, "CRISPML_INFLUX_TOKEN_FILE"),
    ],
)
def test_bad_influx_settings_are_refused_by_name(overrides: dict[str, Any], setting: str, tmp_path: Path) -> None:
    if overrides.get("influx_token_file") == "EMPTY":
        (tmp_path / "empty").write_text("\n")
        overrides["influx_token_file"] = tmp_path / "empty"
    with pytest.raises(InvalidInput) as refused:
        influx_exporter(load_settings(home=tmp_path, **overrides))
    assert refused.value.field == setting


# -- Grafana -----------------------------------------------------------------------------------------
def _dashboard() -> dict[str, Any]:
    return dict(json.loads((GRAFANA / "dashboards" / "crispml-methods.json").read_text()))


def _as_grafana_runs(query: str) -> str:
    """A panel's InfluxQL as Grafana sends it for the last hour with every method and host selected."""
    macros = {"$timeFilter": "time > now() - 1h", "$__interval": "1s", "$method": ".*", "$host": ".*"}
    for macro, value in macros.items():
        query = query.replace(macro, value)
    return query


def test_every_dashboard_query_reads_what_crispml_writes(run: Crispml, influxd: Influxd) -> None:
    fields = {key for key, *_ in influxd.query(f'SHOW FIELD KEYS FROM "{MEASUREMENT}"', DATABASE)[0]["values"]}
    tags = {key for (key,) in influxd.query(f'SHOW TAG KEYS FROM "{MEASUREMENT}"', DATABASE)[0]["values"]}
    dashboard = _dashboard()
    queries = [target["query"] for panel in dashboard["panels"] for target in panel["targets"]]
    queries += [variable["query"] for variable in dashboard["templating"]["list"]]
    assert len(queries) >= 8
    for query in queries:
        names = set(re.findall(r'"([^"]+)"', query))
        assert MEASUREMENT in names and names <= {MEASUREMENT} | fields | tags, query
        series = influxd.query(_as_grafana_runs(query), DATABASE)
        assert any(value is not None for s in series for row in s["values"] for value in row[1:]), query
    # Each chart covers what the brief promised: durations, memory, rows and GC, per method.
    charted = " ".join(queries)
    assert {"duration_s", "peak_rss_mb", "rows_in", "rows_out", "gc_runs"} <= set(re.findall(r'"(\w+)"', charted))


def test_the_dashboard_reads_the_provisioned_influxdb_data_source() -> None:
    provisioned = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "influxdb.yaml").read_text())
    (source,) = provisioned["datasources"]
    assert source["type"] == "influxdb"
    assert source["jsonData"]["dbName"] == Settings.model_fields["influx_database"].default
    dashboard = _dashboard()
    used = [panel["datasource"] for panel in dashboard["panels"]] + [
        target["datasource"] for panel in dashboard["panels"] for target in panel["targets"]
    ]
    assert all(d == {"type": "influxdb", "uid": source["uid"]} for d in used)
    assert Settings.model_fields["influx_measurement"].default == MEASUREMENT


_AT = datetime(2026, 11, 30, 17, 0, 0, 123456, tzinfo=UTC)
_USUAL = {"method": "score", "started_at": _AT, "duration_s": 0.00123, "rows_in": 1, "rows_out": 1,
          "peak_rss_mb": 312.5, "cpu_s": 0.0011, "gc_runs": 0, "outcome": Outcome.OK, "dataset": None,
          "model": "fraud/1", "error": None, "pid": 1234, "request_id": "a140158e"}  # fmt: skip
_SERIES = "crispml_perf,host=h1,method=score,model=fraud/1,outcome=ok"


@pytest.mark.parametrize(
    ("changed", "line"),
    [
        # A request's usual record (the one f-string), stamped at its exit: start + duration, in ns.
        ({}, 'duration_s=0.00123,cpu_s=0.0011,peak_rss_mb=312.5,gc_runs=0i,rows_in=1i,rows_out=1i,pid=1234i,'
             'request_id="a140158e" 1796058000124686000'),
        ({"request_id": 'say "hi" \\'}, 'duration_s=0.00123,cpu_s=0.0011,peak_rss_mb=312.5,gc_runs=0i,rows_in=1i,'
                                         'rows_out=1i,pid=1234i,request_id="say \\"hi\\" \\\\" 1796058000124686000'),
        # What InfluxDB cannot hold or the record does not carry is left out; a naive start is UTC.
        ({"duration_s": float("nan"), "rows_in": None}, 'cpu_s=0.0011,peak_rss_mb=312.5,gc_runs=0i,rows_out=1i,'
                                                        'pid=1234i,request_id="a140158e" 1796058000123456000'),
        ({"request_id": None, "rows_out": None, "cpu_s": float("inf"), "started_at": _AT.replace(tzinfo=None)},
         "duration_s=0.00123,peak_rss_mb=312.5,gc_runs=0i,rows_in=1i,pid=1234i 1796058000124686000"),
        ({"request_id": ""}, "duration_s=0.00123,cpu_s=0.0011,peak_rss_mb=312.5,gc_runs=0i,rows_in=1i,rows_out=1i,"
                             "pid=1234i 1796058000124686000"),
    ],
)  # fmt: skip
def test_a_perf_record_is_one_exact_line(changed: dict[str, Any], line: str) -> None:
    """Golden lines (the same bytes as the line builder before its one-f-string path, for 90,000 random
    records with NaN, infinities, naive times, empty and escaped names and ids)."""
    assert perf_line(PerfRecord(**{**_USUAL, **changed}), MEASUREMENT, "h1") == f"{_SERIES} {line}"
