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
therefore never slows or fails a request. With `writer="process"` (a server's default) the thread only
sends each tenth of a second's figures to a child process, where an exporter of its own formats and
writes them (`crispml.observability.influx_sidecar`) and reports back what it counted.

One point per finished call, at its exit time, in the measurement `crispml_perf` (configurable): see
`crispml.observability.influx_lines` for its tags and fields.
"""

from __future__ import annotations

import logging
import math
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
from prometheus_client import Counter

from crispml.domain import PerfRecord
from crispml.observability.influx_lines import Pending, escape_measurement, pending, pending_line
from crispml.observability.perf import add_perf_observer, remove_perf_observer

if TYPE_CHECKING:
    from crispml.observability.sidecar import Sidecar, WriterKind

log = logging.getLogger("crispml.influx")

_SIDECAR_EXIT_S = 2.0
"""What closing allows a writer process beyond its own bounds: to start, finish and report."""

POINTS_DROPPED = Counter(
    "crispml_influx_points_dropped_total",
    "Perf records the InfluxDB exporter did not deliver, by reason: its buffer was full, InfluxDB refused "
    "or did not take a write (after retries), or the process stopped before they were written.",
    ["reason"],
)
_DROPPED = {reason: POINTS_DROPPED.labels(reason) for reason in ("buffer_full", "write_failed", "shutdown")}
"""Every series exists from the start, at 0."""

_RETRY_DELAYS_S = (0.1, 0.5)
"""Waits before the second and third attempt of a write that failed on the way (not a 4xx)."""
FORMAT_EVERY_S = 0.1
"""How often the flusher formats the records waiting as lines (it writes them every `flush_s`), or sends
them to its writer process."""
T = TypeVar("T")


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
        writer: WriterKind = "thread",
    ) -> None:
        self.target = target
        self._writer = writer
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
        self.dropped_by_reason = dict.fromkeys(_DROPPED, 0)
        self._failing = False
        self._sidecar: Sidecar | None = None
        self._sidecar_buffered = 0
        """The points the sidecar holds, as it last reported."""

    # -- the measured call's side: microseconds, never blocks, never raises --------------------------
    def observe(self, record: PerfRecord) -> None:
        """Take one finished perf record (a perf observer): its figures wait in the buffer for the flusher,
        which writes them as lines; a full buffer drops the record and counts it."""
        self.keep(pending(record))

    def keep(self, figures: Pending) -> None:
        """`observe` of a record's figures (what a sidecar receives)."""
        if len(self._buffer) + len(self._lines) >= self._buffer_size:
            self._drop(1, "buffer_full")
            return
        self._buffer.append(figures)

    def drop_unwritable(self) -> None:
        """Count a record no line can say (as the flusher does when it cannot format one)."""
        self._drop(1, "write_failed")

    # -- life cycle --------------------------------------------------------------------------------
    def start(self) -> InfluxExporter:
        """Start the flusher (and with `writer="process"` the child that formats and writes the points,
        `crispml.observability.sidecar`) and observe every perf record of this process."""
        if self._writer == "process":
            from crispml.observability.sidecar import Sidecar

            self._sidecar = Sidecar.start("influx", self._sidecar_config())
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
        # The last write started before the deadline may take its own timeout (and a sidecar a moment more).
        thread.join(self._close_timeout_s + self._timeout_s + (_SIDECAR_EXIT_S if self._writer == "process" else 0))
        left = len(self._buffer) + len(self._lines)
        self._buffer.clear()
        self._lines.clear()
        if left:
            self._drop(left, "shutdown")

    @property
    def stats(self) -> ExporterStats:
        with self._counts_lock:
            buffered = len(self._buffer) + len(self._lines) + self._sidecar_buffered
            return ExporterStats(self._written, self._dropped, self._failed_flushes, buffered)

    # -- the flusher thread ------------------------------------------------------------------------
    def _run(self) -> None:
        if self._sidecar is not None and self._ship(self._sidecar):
            return
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
            self.dropped_by_reason[reason] += points
        _DROPPED[reason].inc(points)

    # -- with a sidecar: this thread only sends figures, the child formats and writes them --------------
    def _ship(self, sidecar: Sidecar) -> bool:
        """Send what waits to the sidecar every `FORMAT_EVERY_S`, and count what it reports, until `close`;
        False when the sidecar is gone (this thread then formats and writes what is left and what comes)."""
        while not self._stopping.wait(FORMAT_EVERY_S):
            if not self._send(sidecar):
                self._count(sidecar.close(0.1))  # gone: what it reported last, and no zombie left
                return False
            self._count(sidecar.reports())
        sent = self._send(sidecar)
        self._count(sidecar.close(self._close_timeout_s + self._timeout_s + _SIDECAR_EXIT_S / 2))
        self._sidecar_buffered = 0
        return sent

    def _send(self, sidecar: Sidecar) -> bool:
        batch = _take(self._buffer, len(self._buffer))
        try:
            if not batch or sidecar.send(batch):
                return True
        except TypeError:  # a value JSON cannot carry: the others go one by one, that one is counted
            for at, figures in enumerate(batch):
                if not self._send_alone(sidecar, figures):
                    batch = batch[at:]
                    break
            else:
                return True
        self._buffer[:0] = batch
        self._sidecar_buffered = 0
        log.warning("the InfluxDB writer process ended: this process writes the perf records from now on")
        return False

    def _send_alone(self, sidecar: Sidecar, figures: Pending) -> bool:
        try:
            return sidecar.send([figures])
        except TypeError:
            self.drop_unwritable()
            return True

    def _count(self, reports: list[dict[str, Any]]) -> None:
        """Take the sidecar's counts as this exporter's own (its metrics and `stats`); say its warnings."""
        for report in reports:
            with self._counts_lock:
                self._written += report.get("written", 0)
                self._failed_flushes += report.get("failed_flushes", 0)
                self._sidecar_buffered = report.get("buffered", self._sidecar_buffered)
            for reason, points in report.get("dropped", {}).items():
                if reason in _DROPPED and points:
                    self._drop(points, reason)
            for warning in report.get("warnings", ()):
                log.warning("%s", warning)

    def _sidecar_config(self) -> dict[str, Any]:
        target = self.target
        return {
            "target": {"url": target.url, "database": target.database, "bucket": target.bucket, "org": target.org,
                       "token": target.token, "measurement": target.measurement},
            "options": {"batch_size": self._batch_size, "flush_s": self._flush_s, "buffer_size": self._buffer_size,
                        "timeout_s": self._timeout_s, "close_timeout_s": self._close_timeout_s, "host": self._host},
        }  # fmt: skip

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
