"""Perf records to InfluxDB as line protocol, as the reference's perfLogExit wrote them.

The observer a measured call runs (`InfluxExporter.observe`) appends the record's figures to a bounded
buffer: a full buffer drops the record and counts it. The buffer holds tuples of plain values, not
records: the garbage collector stops tracking such a tuple at its first collection, where thousands of
buffered records (two tracked objects each) kept it collecting and were promoted through its
generations. A daemon thread formats them as lines every tenth of a second (off the measured call's
thread, a line costs under half what it cost that thread between its other work, and a tenth of a
second's lines never hold the GIL for long) and writes the lines in batches, every `flush_s` or as soon
as `batch_size` wait, with a short timeout. A failed write is retried a few times, then its points are
dropped and counted, and the next attempt waits for the next interval. A slow or dead InfluxDB
therefore never slows or fails a request.

One point per finished call, at its exit time: measurement `crispml_perf` (configurable), tags
`method`, `dataset`, `model`, `outcome`, `host` (absent when empty), fields `duration_s`, `cpu_s`,
`peak_rss_mb`, `gc_runs`, `rows_in`, `rows_out`, `pid` and `request_id` (when known).
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import TypeVar

import httpx
from prometheus_client import Counter

from crispml.domain import Outcome, PerfRecord
from crispml.observability.perf import add_perf_observer, remove_perf_observer

log = logging.getLogger("crispml.influx")

POINTS_DROPPED = Counter(
    "crispml_influx_points_dropped_total",
    "Perf records the InfluxDB exporter did not deliver, by reason: its buffer was full, InfluxDB refused "
    "or did not take a write (after retries), or the process stopped before they were written.",
    ["reason"],
)
_DROPPED = {reason: POINTS_DROPPED.labels(reason) for reason in ("buffer_full", "write_failed", "shutdown")}
"""Every series exists from the start, at 0."""

_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)
_RETRY_DELAYS_S = (0.1, 0.5)
FORMAT_EVERY_S = 0.1
"""How often the flusher formats the records waiting as lines (it writes them every `flush_s`)."""
T = TypeVar("T")
"""Waits before the second and third attempt of a write that failed on the way (not a 4xx)."""


# -- line protocol ---------------------------------------------------------------------------------
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\ ", "\r": r"\ "})
_MEASUREMENT_ESCAPES = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\ ", "\r": r"\ "})
_STRING_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})


@lru_cache(maxsize=4096)  # names repeat: a few datasets, models and methods
def _tag(value: str) -> str:
    # A backslash is read as an escape when it comes right before a delimiter: one ending a tag value
    # would swallow the space or comma after it, so trailing backslashes are left out.
    return value.translate(_TAG_ESCAPES).rstrip("\\")


def escape_measurement(name: str) -> str:
    """A measurement name as line protocol writes it (commas and spaces escaped)."""
    return name.translate(_MEASUREMENT_ESCAPES).rstrip("\\")


def _float(name: str, value: float) -> str:
    return f",{name}={value!r}" if math.isfinite(value) else ""


Pending = tuple[
    str, str | None, str | None, str, datetime, float, float, float, int, int | None, int | None, int, object
]
"""A perf record's figures as the exporter keeps them until its flusher writes them: a tuple of plain values,
which the garbage collector stops tracking at its first collection (a record, or its outcome member, it
would track for as long as the record waits)."""
_OUTCOMES = {outcome: outcome.value for outcome in Outcome}


def pending(record: PerfRecord) -> Pending:
    """What the exporter keeps of `record` until it is written (see `Pending`)."""
    return (record.method, record.dataset, record.model, _OUTCOMES[record.outcome], record.started_at,
            record.duration_s, record.cpu_s, record.peak_rss_mb, record.gc_runs, record.rows_in, record.rows_out,
            record.pid, getattr(record, "request_id", None))  # fmt: skip


def perf_line(record: PerfRecord, measurement: str, host: str | None = None) -> str:
    """One perf record as one line of InfluxDB line protocol, timestamped at the call's exit (ns).

    `measurement` comes escaped (`escape_measurement`); tag and field values are escaped here."""
    return pending_line(pending(record), measurement, host)


def pending_line(figures: Pending, measurement: str, host: str | None = None) -> str:
    """`perf_line` of a record's `pending` figures. The flusher thread formats a batch at a time: the
    series (measurement and tags) is built once per distinct one, and a request's usual record (finite
    figures, rows, a request id needing no escape) is one f-string."""
    method, dataset, model, outcome, started, duration, cpu, rss, gc_runs, rows_in, rows_out, pid, request_id = figures
    series = _series(measurement, host, dataset, method, model, outcome)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    exit_us = (started - _EPOCH) // _MICROSECOND  # exact, where a float timestamp may round
    if (
        math.isfinite(duration) and math.isfinite(cpu) and math.isfinite(rss) and rows_in is not None
        and rows_out is not None and type(request_id) is str and request_id and '"' not in request_id
        and "\\" not in request_id
    ):  # fmt: skip
        return (
            f"{series} duration_s={duration!r},cpu_s={cpu!r},peak_rss_mb={rss!r},gc_runs={gc_runs}i,"
            f'rows_in={rows_in}i,rows_out={rows_out}i,pid={pid}i,request_id="{request_id}" '
            f"{exit_us * 1000 + round(duration * 1e9)}"
        )
    # Any other record: a figure InfluxDB cannot hold (NaN, an infinity) is left out, and so are the rows
    # and request id it does not carry.
    fields = _float("duration_s", duration) + _float("cpu_s", cpu) + _float("peak_rss_mb", rss)
    fields = f"{fields},gc_runs={gc_runs}i"[1:]
    if rows_in is not None:
        fields += f",rows_in={rows_in}i"
    if rows_out is not None:
        fields += f",rows_out={rows_out}i"
    fields += f",pid={pid}i"
    if request_id:
        fields += f',request_id="{str(request_id).translate(_STRING_ESCAPES)}"'
    duration_ns = round(duration * 1e9) if math.isfinite(duration) else 0
    return f"{series} {fields} {exit_us * 1000 + duration_ns}"


@lru_cache(maxsize=4096)  # a few methods, models and datasets, one host and measurement
def _series(measurement: str, host: str | None, dataset: str | None, method: str, model: str | None,
            outcome: str) -> str:  # fmt: skip
    """The measurement and tags of a point, tags sorted by key as InfluxDB prefers; an empty one is left out."""
    line = measurement
    if dataset and (dataset := _tag(dataset)):
        line += f",dataset={dataset}"
    if host and (host := _tag(host)):
        line += f",host={host}"
    if method := _tag(method):
        line += f",method={method}"
    if model and (model := _tag(model)):
        line += f",model={model}"
    return f"{line},outcome={_tag(outcome)}"


# -- where the lines go ----------------------------------------------------------------------------
@dataclass(frozen=True)
class InfluxTarget:
    """An InfluxDB to write to: 1.x (`database`) unless a 2.x `bucket` (with its `org`) is named."""

    url: str
    database: str = "crispml"
    bucket: str | None = None
    org: str | None = None
    token: str | None = field(default=None, repr=False)
    """Sent as `Authorization: Token ...`; never logged nor shown."""
    measurement: str = "crispml_perf"

    @property
    def shown_url(self) -> str:
        """The write URL as logs show it: without a user or password it may hold."""
        url = httpx.URL(self.write_url)
        return str(url.copy_with(username=None, password=None)) if url.userinfo else str(url)

    @property
    def write_url(self) -> str:
        base = self.url.rstrip("/")
        return f"{base}/api/v2/write" if self.bucket else f"{base}/write"

    @property
    def params(self) -> dict[str, str]:
        if self.bucket:
            return {"org": self.org or "", "bucket": self.bucket, "precision": "ns"}
        return {"db": self.database, "precision": "n"}

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        return headers


@dataclass(frozen=True)
class ExporterStats:
    """What an exporter did so far: points written, points dropped (any reason), writes given up."""

    written: int
    dropped: int
    failed_flushes: int
    buffered: int


class InfluxExporter:
    """Observe perf records and write them to `target` from a background thread; `start`, then `close`."""

    def __init__(
        self,
        target: InfluxTarget,
        *,
        batch_size: int = 5_000,
        flush_s: float = 5.0,
        buffer_size: int = 10_000,
        timeout_s: float = 2.0,
        close_timeout_s: float = 5.0,
        host: str | None = None,
    ) -> None:
        self.target = target
        self._batch_size = batch_size
        self._flush_s = flush_s
        self._buffer_size = buffer_size
        self._timeout_s = timeout_s
        self._close_timeout_s = close_timeout_s
        self._host = socket.gethostname() if host is None else host
        self._measurement = escape_measurement(target.measurement)
        self._buffer: list[Pending] = []
        self._lines: list[str] = []
        """The buffer's records formatted by the flusher, waiting for their write (the bound counts both)."""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._counts_lock = threading.Lock()
        self._written = self._dropped = self._failed_flushes = 0
        self._failing = False

    # -- the measured call's side: microseconds, never blocks, never raises --------------------------
    def observe(self, record: PerfRecord) -> None:
        """Take one finished perf record (a perf observer): its figures wait in the buffer for the flusher,
        which writes them as lines; a full buffer drops the record and counts it."""
        buffer = self._buffer
        if len(buffer) + len(self._lines) >= self._buffer_size:
            self._drop(1, "buffer_full")
            return
        buffer.append(pending(record))

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> InfluxExporter:
        """Start the flusher and observe every perf record of this process."""
        self._thread = threading.Thread(target=self._run, name="crispml-influx", daemon=True)
        self._thread.start()
        add_perf_observer(self.observe)
        log.info("perf records go to InfluxDB at %s (%s)", self.target.shown_url, self._destination())
        return self

    def close(self) -> None:
        """Stop observing and write what waits, giving up after `close_timeout_s` (and the timeout of a write
        under way): what is left is dropped and counted."""
        remove_perf_observer(self.observe)
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        # The last write started before the deadline may take its own timeout.
        thread.join(self._close_timeout_s + self._timeout_s)
        left = len(self._buffer) + len(self._lines)
        self._buffer.clear()
        self._lines.clear()
        if left:
            self._drop(left, "shutdown")

    @property
    def stats(self) -> ExporterStats:
        with self._counts_lock:
            buffered = len(self._buffer) + len(self._lines)
            return ExporterStats(self._written, self._dropped, self._failed_flushes, buffered)

    # -- the flusher thread ------------------------------------------------------------------------
    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout_s) as http:
            write_at = time.monotonic() + self._flush_s
            while not self._stopping.wait(FORMAT_EVERY_S):
                self._format()
                if len(self._lines) < self._batch_size and time.monotonic() < write_at:
                    continue
                if not self._flush(http, deadline=math.inf):
                    # A failing InfluxDB is tried again at the next interval, not at every batch that fills.
                    self._stopping.wait(self._flush_s)
                write_at = time.monotonic() + self._flush_s
            self._format()
            self._flush(http, deadline=time.monotonic() + self._close_timeout_s)

    def _format(self) -> None:
        """Format what waits in the buffer: every `FORMAT_EVERY_S`, a few milliseconds of this thread's time
        at most, where a whole batch formatted at once held the GIL the requests need for tens of them; a
        record no line can say is dropped and counted."""
        buffer, lines, measurement, host = self._buffer, self._lines, self._measurement, self._host
        for figures in _take(buffer, len(buffer)):
            try:
                lines.append(pending_line(figures, measurement, host))
            except Exception:
                log.warning("could not write the perf record of %s as line protocol", figures[0], exc_info=True)
                self._drop(1, "write_failed")

    def _flush(self, http: httpx.Client, deadline: float) -> bool:
        """Write the formatted lines, a batch at a time; False when a batch could not be written."""
        lines = self._lines
        while lines and time.monotonic() < deadline:
            batch = _take(lines, self._batch_size)
            if self._write(http, "\n".join(batch).encode(), deadline):
                with self._counts_lock:
                    self._written += len(batch)
                continue
            with self._counts_lock:
                self._failed_flushes += 1
            self._drop(len(batch), "write_failed")
            return False
        return True

    def _write(self, http: httpx.Client, body: bytes, deadline: float) -> bool:
        target = self.target
        problem = ""
        for delay in (*_RETRY_DELAYS_S, None):
            try:
                answer = http.post(target.write_url, params=target.params, headers=target.headers, content=body)
            except Exception as exc:  # transport errors, and anything else: the flusher outlives them all
                problem = f"{exc.__class__.__name__}: {exc}"
            else:
                if answer.status_code < 300:
                    if self._failing:
                        self._failing = False
                        log.warning("InfluxDB at %s takes perf records again", target.shown_url)
                    return True
                problem = f"it answered {answer.status_code}: {answer.text[:300]}"
                if answer.status_code < 500 and answer.status_code != 429:
                    break  # refused: the same lines would be refused again
            if delay is None or time.monotonic() + delay >= deadline:
                break
            self._stopping.wait(delay)
        self._report_failure(problem)
        return False

    def _report_failure(self, problem: str) -> None:
        # Once per outage, not once per batch: a dead InfluxDB must not flood the log either.
        if not self._failing:
            self._failing = True
            log.warning("InfluxDB at %s did not take perf records (%s); they are dropped until it does",
                        self.target.shown_url, problem)  # fmt: skip

    def _drop(self, points: int, reason: str) -> None:
        with self._counts_lock:
            self._dropped += points
        _DROPPED[reason].inc(points)

    def _destination(self) -> str:
        target = self.target
        where = f"bucket {target.bucket} of {target.org}" if target.bucket else f"database {target.database}"
        return f"{where}, measurement {target.measurement}"


def _take(items: list[T], most: int) -> list[T]:
    """Up to `most` items from the front of `items`: a slice and a deletion, each one step under the GIL,
    so what request threads append meanwhile waits for the next take (and `close` may empty `items`).
    Popping a 5,000-line batch off a deque one line at a time held the GIL the requests need for 1-2 ms."""
    batch = items[:most]
    del items[: len(batch)]
    return batch
