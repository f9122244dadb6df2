"""Log lines: records and access entries formatted as JSON or text lines, and the destinations the
writer thread hands them to (stdout, a size-bounded rotating file), which report a failure at most once
a minute instead of raising it."""

from __future__ import annotations

import logging
import sys
import time
from contextlib import suppress
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import Any, TextIO

import orjson

_REPORT_EVERY_S = 60.0
LINES_PER_WRITE = 256
"""Lines the writer thread gathers at most before it writes them (it writes sooner once the queue is drained)."""

# Attributes every LogRecord has: anything else on a record is an extra field of the line.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "color_message", "taskName", "request_id", "principal",
}  # fmt: skip


def warning_record(message: str, **fields: Any) -> logging.LogRecord:
    """A warning of the log machinery itself, written by the writer thread."""
    return logging.makeLogRecord({"name": "crispml.logs", "levelno": logging.WARNING, "levelname": "WARNING",
                                  "msg": message, **fields})  # fmt: skip


class ReportsFailures(logging.Handler):
    """A handler that, when it cannot write, says so at most once a minute (to `fallback`, else stderr)."""

    fallback: logging.Handler | None = None
    _quiet_until = 0.0

    def handleError(self, record: logging.LogRecord | None) -> None:
        now = time.monotonic()
        if now < self._quiet_until:
            return
        self._quiet_until = now + _REPORT_EVERY_S
        error = sys.exc_info()[1]
        note = f"cannot write log records to {self.destination}: {error} (said at most once a minute)"
        if self.fallback is not None:
            self.fallback.handle(warning_record(note))
            return
        with suppress(Exception):
            sys.stderr.write(f"crispml: {note}\n")

    @property
    def destination(self) -> str:
        return type(self).__name__


class LineHandler(ReportsFailures):
    """A destination of formatted lines: the writer thread hands it a turn's lines at once."""

    def write_lines(self, lines: list[str]) -> None:
        raise NotImplementedError


class LineStream(LineHandler, logging.StreamHandler[TextIO]):
    """Lines to a stream, written together by the writer thread once the queue is drained (not at every
    line): the stream may be unbuffered (PYTHONUNBUFFERED, as in the image), where each line written
    alone is a system call."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.write_lines([self.format(record)])
        except Exception:
            self.handleError(record)

    def write_lines(self, lines: list[str]) -> None:
        self._lines.extend(lines)
        if len(self._lines) >= LINES_PER_WRITE:
            self.flush()

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        try:
            if lines:
                self.stream.write("\n".join(lines) + "\n")
            super().flush()
        except Exception:
            self.handleError(None)

    @property
    def destination(self) -> str:
        return str(getattr(self.stream, "name", "stdout"))


class RotatingFile(LineHandler, RotatingFileHandler):
    """Lines to a file of at most `max_bytes`, kept with `backups` older ones (`.1`, `.2`, ...).

    The file (and its folder) is made at the first line, and again after a failure: a folder that becomes
    writable is written to from then on.
    """

    def __init__(self, path: Path, max_bytes: int, backups: int, fallback: logging.Handler | None = None) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8", delay=True)
        self.fallback = fallback
        self._size = 0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write_line(self.format(record))
        except Exception:
            self._forget_stream()
            self.handleError(record)

    def write_lines(self, lines: list[str]) -> None:
        for line in lines:
            try:
                self._write_line(line)
            except Exception:
                self._forget_stream()
                self.handleError(None)

    def _write_line(self, text: str) -> None:
        line = (text + "\n").encode()
        if self.stream is None:
            Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
            self.stream = self._open()
            self._size = self.stream.seek(0, 2)
        if self._size and self._size + len(line) > self.maxBytes:
            self.doRollover()
            if self.stream is None:
                self.stream = self._open()
            self._size = 0
        self.stream.buffer.write(line)
        self._size += len(line)

    def flush(self) -> None:
        try:
            super().flush()
        except Exception:
            self._forget_stream()
            raise

    def _forget_stream(self) -> None:
        stream, self.stream = self.stream, None  # reopened at the next line
        if stream is not None:
            with suppress(Exception):
                stream.close()

    @property
    def destination(self) -> str:
        return self.baseFilename


_second: tuple[int, str] = (0, "")


def timestamp(created: float) -> str:
    """ISO 8601 in UTC to the millisecond: 2026-11-30T01:28:27.888Z."""
    global _second
    seconds = int(created)
    if _second[0] != seconds:  # formatted once a second
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{int((created - seconds) * 1000):03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    """The line's fields: time, level, logger, message, request id and principal when known, extras."""
    fields: dict[str, Any] = {
        "time": timestamp(record.created),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }
    values = record.__dict__
    if values.get("request_id") is not None:
        fields["request_id"] = values["request_id"]
    if values.get("principal") is not None:
        fields["principal"] = values["principal"]
    for key, value in values.items():  # in the order the caller gave them
        if key not in _STANDARD and not key.startswith("_"):
            fields[key] = value
    if record.exc_text:
        fields["exception"] = record.exc_text
    elif record.exc_info:  # a record that skipped the queue handler
        fields["exception"] = EXCEPTIONS.formatException(record.exc_info)
    return fields


class LineFormatter(logging.Formatter):
    """Formats a record's fields (`render`): the writer thread renders an access line's fields directly."""

    def format(self, record: logging.LogRecord) -> str:
        return self.render(_fields(record))

    def render(self, fields: dict[str, Any]) -> str:
        raise NotImplementedError


class JsonFormatter(LineFormatter):
    """One JSON object per line (orjson); values JSON cannot hold are written as their `str`."""

    def render(self, fields: dict[str, Any]) -> str:
        try:
            return orjson.dumps(fields, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except TypeError:  # e.g. an integer wider than 64 bits
            return orjson.dumps({key: value if isinstance(value, str) else str(value)
                                 for key, value in fields.items()}).decode()  # fmt: skip


class TextFormatter(LineFormatter):
    """A readable line: `time LEVEL logger: message key=value ...`."""

    def render(self, fields: dict[str, Any]) -> str:
        fields = dict(fields)
        head = f"{fields.pop('time')} {fields.pop('level'):<7} {fields.pop('logger')}: {fields.pop('message')}"
        exception = fields.pop("exception", None)
        extras = " ".join(f"{key}={_text(value)}" for key, value in fields.items())
        line = f"{head}  {extras}" if extras else head
        return f"{line}\n{exception}" if exception else line


def _text(value: Any) -> str:
    text = str(value)
    return orjson.dumps(text).decode() if not text or any(c in text for c in ' "=\n') else text


EXCEPTIONS = logging.Formatter()
"""Formats a traceback as the standard library does, for a record's `exception` field."""
