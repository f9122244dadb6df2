"""Logs: one configuration for crispml, uvicorn and the job threads, written from a background thread.

Every record is handed to a queue on the thread that logged it (a dict append's worth of work: the
request id and principal are read there, from the context) and formatted and written by one listener
thread, to stdout and, when configured, a size-bounded rotating file; or (a server's default) the thread
sends them to a child process that formats and writes them (`crispml.observability.sidecar`), so the
formatting takes no turns on the interpreter the requests run on. A request never waits on stdout or
a disk, and a log destination that fails (a full disk, a read-only folder, a closed pipe) is reported at
most once a minute, never raised.

`log_config` is the `logging.config.dictConfig` dictionary; uvicorn applies it in every worker process
(`log_config=`), so its own lines come out in the same format. Each line carries the time (ISO 8601,
UTC), level, logger, message, the request id and principal when known, and the record's extra fields.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from logging.handlers import QueueHandler
from pathlib import Path
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, Literal

from crispml.identity import acting, request_id
from crispml.observability.log_lines import (
    EXCEPTIONS,
    LINES_PER_WRITE,
    JsonFormatter,
    LineFormatter,
    LineHandler,
    LineStream,
    RotatingFile,
    TextFormatter,
    timestamp,
    warning_record,
)

if TYPE_CHECKING:
    from crispml.observability.sidecar import Sidecar, WriterKind

LogFormat = Literal["json", "text"]

ACCESS = "crispml.access"
"""The logger of the access lines (one per HTTP request, see `access`)."""
MAX_QUEUED = 10_000
"""Records waiting for the writer thread beyond which new ones are dropped (and the drops counted)."""
GATHER_S = 0.05
"""How long the writer thread lets lines gather once it has written all it had: one wake-up and one write
for every line of a busy second would cost the requests that log them more than the lines themselves."""
_WRITE_AT_EXIT_S = 5.0
_access_log = logging.getLogger(ACCESS)
_background: BackgroundHandler | None = None
"""This process's background handler, once logging was configured with one."""


def log_config(
    log_format: LogFormat = "json",
    level: str = "INFO",
    file: Path | None = None,
    file_max_bytes: int = 50 * 1024 * 1024,
    file_backups: int = 5,
    writer: WriterKind = "thread",
) -> dict[str, Any]:
    """The `dictConfig` of a crispml process: every logger (uvicorn's too) through one background handler
    to stdout, and to `file` when given; uvicorn's access log is off (`crispml.api.request_end` writes one)."""
    handler = {"()": f"{__name__}.background_handler", "log_format": log_format, "file": str(file) if file else None,
               "file_max_bytes": file_max_bytes, "file_backups": file_backups, "writer": writer}  # fmt: skip
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"crispml": handler},
        "loggers": {
            # Their records go up to the root's handler; uvicorn's own defaults are replaced.
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False},
            # Each migration it runs; crispml's own start-up line says from which revision to which.
            "alembic": {"level": "WARNING"},
        },
        "root": {"level": level.upper(), "handlers": ["crispml"]},
    }


def background_handler(
    log_format: LogFormat, file: str | None, file_max_bytes: int, file_backups: int, writer: WriterKind = "thread"
) -> QueueHandler:
    """The root's handler: a queue, and a started listener thread that writes what arrives to stdout and
    `file`, or (`writer="process"`) hands it to a child process that does (`crispml.observability.sidecar`)."""
    formatter, handlers = _destinations(log_format, file, file_max_bytes, file_backups)
    sidecar = None
    if writer == "process":
        from crispml.observability.sidecar import Sidecar

        config = {
            "log_format": log_format,
            "file": file,
            "file_max_bytes": file_max_bytes,
            "file_backups": file_backups,
        }
        sidecar = Sidecar.start("logs", config)
    background = BackgroundHandler(handlers, formatter, sidecar)
    _write_before_sigterm_ends_the_process()
    return background


def _destinations(
    log_format: LogFormat, file: str | None, file_max_bytes: int, file_backups: int
) -> tuple[LineFormatter, list[LineHandler]]:
    """The formatter and the handlers (stdout, and `file` when given) lines are written with."""
    formatter: LineFormatter = JsonFormatter() if log_format == "json" else TextFormatter()
    stdout = LineStream(sys.stdout)
    handlers: list[LineHandler] = [stdout]
    if file is not None:
        handlers.append(RotatingFile(Path(file), file_max_bytes, file_backups, fallback=stdout))
    for handler in handlers:
        handler.setFormatter(formatter)
    return formatter, handlers


class SidecarLines:
    """The log sink of the child process (`crispml.observability.sidecar`): it formats what the server's
    writer thread sends (access entries; other records come formatted) and writes the lines."""

    def __init__(self, log_format: LogFormat, file: str | None, file_max_bytes: int, file_backups: int) -> None:
        self.formatter, self.handlers = _destinations(log_format, file, file_max_bytes, file_backups)

    def take(self, items: list[Any]) -> None:
        lines = _lines(self.formatter, items)
        for handler in self.handlers:
            handler.write_lines(lines)
            handler.flush()  # what the server sends comes in turns: each is written at once

    def report(self) -> None:
        return None

    def close(self) -> None:
        for handler in self.handlers:
            handler.flush()
            handler.close()


def sidecar_sink(config: dict[str, Any]) -> SidecarLines:
    return SidecarLines(**config)


def _write_before_sigterm_ends_the_process() -> None:
    """uvicorn ends a process it shut down on SIGTERM by raising SIGTERM again, under the handler it found:
    the default one kills the process at once (no atexit), and the writer's last lines ("Finished server
    process") with it. Under this handler, the writer writes what is queued first, then SIGTERM does
    what it would have done."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _write_then_terminate)


def _write_then_terminate(signum: int, _frame: object) -> None:
    background = _background
    if background is not None:  # for a while only: a stdout nobody reads must not keep the process alive
        closing = threading.Thread(target=background.close, daemon=True)
        closing.start()
        closing.join(_WRITE_AT_EXIT_S)
    signal.signal(signum, signal.SIG_DFL)
    signal.raise_signal(signum)


class BackgroundHandler(QueueHandler):
    """Hands records to the writer thread: the message is rendered and the request id and principal read
    here (they live in this thread's context); formatting and writing happen there."""

    def __init__(self, handlers: list[LineHandler], formatter: LineFormatter, sidecar: Sidecar | None = None) -> None:
        queue: SimpleQueue[Any] = SimpleQueue()
        super().__init__(queue)
        self._queue = queue
        self.dropped = 0
        """Records dropped because the writer thread fell `MAX_QUEUED` behind."""
        self.listener = Writer(queue, handlers, formatter, self, sidecar)
        self.listener.start()
        global _background
        _background = self

    def handle(self, record: logging.LogRecord) -> bool:
        # No handler lock: SimpleQueue.put is thread-safe.
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        if self._queue.qsize() >= MAX_QUEUED:
            self.dropped += 1
            return
        try:
            self._queue.put_nowait(self.prepare(record))
        except Exception:
            self.handleError(record)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.args:
            record.msg, record.args = record.getMessage(), None
        if record.exc_info:
            record.exc_text, record.exc_info = EXCEPTIONS.formatException(record.exc_info), None
        if "request_id" not in record.__dict__:
            record.request_id = request_id()
        if "principal" not in record.__dict__:
            principal = acting()
            record.principal = None if principal is None else principal.name
        return record

    def put_entry(self, entry: AccessEntry) -> None:
        """Hand an access line's entry (see `access`) to the writer thread."""
        if self._queue.qsize() >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queue.put_nowait(entry)

    def close(self) -> None:
        global _background
        if self.listener.running:
            self.listener.stop()  # writes what is queued first
        if _background is self:
            _background = None
        super().close()


class Writer:
    """The writer thread: at each turn it takes what waits (up to `LINES_PER_WRITE` records), formats each
    once, hands the lines to every handler in one call, flushes once the queue is drained, and never dies.

    It runs beside the requests and takes the GIL they need: an access line went through a LogRecord, the
    handler's lock, filter and format calls one by one and cost this thread 10 us; taken a turn at a time
    and formatted straight from its fields, it costs 3 us. With a `sidecar` it formats only the rare other
    records and sends each turn to the child process, which formats the access lines and writes them all;
    should the child be gone, the thread writes itself from then on.
    """

    def __init__(
        self,
        queue: SimpleQueue[Any],
        handlers: list[LineHandler],
        formatter: LineFormatter,
        source: BackgroundHandler,
        sidecar: Sidecar | None = None,
    ) -> None:
        self._queue = queue
        self.handlers = handlers
        self.formatter = formatter
        self.source = source
        self.sidecar = sidecar
        self._dropped_reported = 0
        self._thread: threading.Thread | None = None
        self.running = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="crispml-log-writer", daemon=True)
        self._thread.start()
        self.running = True

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        self.running = False
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put_nowait(_STOP)
            thread.join()
        sidecar, self.sidecar = self.sidecar, None
        if sidecar is not None:
            sidecar.close(_WRITE_AT_EXIT_S)

    def _run(self) -> None:
        queue = self._queue
        while True:
            # Drained (and flushed): rest a moment so the next lines come as one turn. Waking for each
            # line took the GIL from the event loop at every request: three times the futex calls per
            # request and an access line costing several percent of the one-record scoring path's CPU.
            if queue.empty():
                time.sleep(GATHER_S)
            turn = [queue.get()]
            while len(turn) < LINES_PER_WRITE and not queue.empty():  # the one reader: get cannot block
                turn.append(queue.get())
            stop = any(item is _STOP for item in turn)
            with suppress(Exception):  # a bad record must not stop the thread that writes all the others
                self.write([item for item in turn if item is not _STOP] if stop else turn)
            if stop or queue.empty():
                self._drained()
            if stop:
                return

    def write(self, records: list[Any]) -> None:
        """Format `records` (access entries and log records) and hand their lines to every handler, or send
        them to the sidecar: access entries as they are, other records formatted."""
        sidecar = self.sidecar
        if sidecar is not None:
            items = [record if type(record) is tuple else _formatted(self.formatter, record) for record in records]
            try:
                if sidecar.send([item for item in items if item is not None]):
                    return
                self.sidecar = None
                sidecar.close(0.1)  # gone: no zombie left
                records = [*records, warning_record("the log writer process ended: this process writes its lines")]
            except TypeError:  # a value JSON cannot carry: this turn is written here
                pass
        lines = _lines(self.formatter, records)
        for handler in self.handlers:
            handler.write_lines(lines)

    def _drained(self) -> None:
        dropped = self.source.dropped
        if dropped != self._dropped_reported:
            message = f"{dropped - self._dropped_reported} log records dropped: the writer fell {MAX_QUEUED} behind"
            self._dropped_reported = dropped
            self.write([warning_record(message, dropped=dropped)])
        for handler in self.handlers:
            try:
                handler.flush()
            except Exception:
                handler.handleError(None)


_STOP = object()
"""Put on the queue by `Writer.stop`: the thread writes what came before it, then ends."""


def _lines(formatter: LineFormatter, records: list[Any]) -> list[str]:
    """The lines of access entries (tuples, or the lists a sidecar receives), log records and lines."""
    lines = []
    for record in records:
        kind = type(record)
        try:
            if kind is str:
                lines.append(record)
            elif kind is tuple or kind is list:
                lines.append(formatter.render(_access_fields(record)))
            else:
                lines.append(formatter.format(record))
        except Exception:  # this record alone is lost
            continue
    return lines


def _formatted(formatter: LineFormatter, record: logging.LogRecord) -> str | None:
    try:
        return formatter.format(record)
    except Exception:
        return None


AccessEntry = tuple[float, str, str, str | None, str | None, int, float, str | None, str | None]
"""What a request hands the writer thread for its access line: when it ended, its method, its path, its
route template (None when no route matched), its client address, its status, its seconds, its request id
and principal's name (read on its own thread, where they live in the context). Plain values, which a
sidecar receives as they are (JSON), not the ASGI scope:
a scope held until the writer's next turn kept each request's objects alive tens of milliseconds longer,
and the server spent about 10 us more per one-record answer (339 against 329 us at wrk -c8)."""


def _access_fields(entry: AccessEntry) -> dict[str, Any]:
    """An access line's fields (see `access`), in the order every line has them: time, level, logger and
    message, then method, route template (the raw path when no route matched), path, status, duration, and
    the request id, principal and client address when known (a line leaves out what it does not know)."""
    ended, method, path, route, client, status, duration_s, request, principal = entry
    path = path[:MAX_PATH]
    duration_ms = round(duration_s * 1000, 3)
    fields = {
        "time": timestamp(ended),
        "level": "INFO",
        "logger": ACCESS,
        "message": f"{method} {path} {status} {duration_ms:.1f} ms",
        "method": method,
        "route": path if route is None else route,
        "path": path,
        "status": status,
        "duration_ms": duration_ms,
    }
    if request is not None:
        fields["request_id"] = request
    if principal is not None:
        fields["principal"] = principal
    if client is not None:
        fields["client"] = client
    return fields


def access(scope: Mapping[str, Any], status: int, duration_s: float) -> None:
    """Write the access line of an HTTP request that ended: method, route template (the raw path when no
    route matched), path, status, duration, request id, principal and client address.

    Cheap on purpose (it runs for every request, between its answer and the next): a tuple of what the
    line needs is handed to the writer thread, which builds and formats the line.
    """
    if not _access_log.isEnabledFor(logging.INFO):
        return
    route, client = scope.get("route"), scope.get("client")
    template = None if route is None else getattr(route, "path_format", route.path)
    address = None if client is None else client[0]
    principal = acting()
    name = None if principal is None else principal.name
    entry = (time.time(), scope["method"], scope["path"], template, address, status, duration_s, request_id(), name)
    background = _background
    if background is not None:
        background.put_entry(entry)
        return
    # Logging was not configured by crispml (an app embedded elsewhere): through the logger.
    fields = _access_fields(entry)
    for standard in ("time", "level", "logger", "message"):
        del fields[standard]
    _access_log.info("%s %s %s %.1f ms", fields["method"], fields["path"], status, fields["duration_ms"], extra=fields)


MAX_PATH = 200
"""Characters of a request's path kept in its access line."""
