"""The InfluxDB sink of the sidecar process (`crispml.observability.sidecar`): the server's exporter sends
each turn's perf figures; an exporter here, writing from its own thread as a server without a sidecar
does, formats them as line protocol and writes them to InfluxDB. What it counts (points written and
dropped by reason, writes given up, what it holds) and warns of goes back in its reports, where the
server's exporter counts it as its own (`/metrics`, `stats`) and logs it."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from crispml.observability.influx import InfluxExporter, InfluxTarget
from crispml.observability.influx_lines import Pending

_FLOATS = (5, 6, 7)
"""The figures JSON cannot carry when they are not finite (it sends null): duration, CPU and peak RSS."""


class _Warnings(logging.Handler):
    """Keeps the exporter's warnings for the next report: the server logs them, as its own lines."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class SidecarPoints:
    """Takes the figures the server sends and reports what its exporter counted since the last report."""

    def __init__(self, target: dict[str, Any], options: dict[str, Any]) -> None:
        self._warnings = _Warnings()
        logger = logging.getLogger("crispml.influx")
        logger.addHandler(self._warnings)
        logger.propagate = False
        self.exporter = InfluxExporter(InfluxTarget(**target), **options).start()
        self._reported = (0, 0, dict(self.exporter.dropped_by_reason))

    def take(self, items: list[Any]) -> None:
        keep = self.exporter.keep
        for figures in items:
            try:
                keep(pending_of(figures))
            except (TypeError, ValueError, IndexError):
                self.exporter.drop_unwritable()

    def report(self) -> dict[str, Any] | None:
        stats = self.exporter.stats
        dropped_by = dict(self.exporter.dropped_by_reason)
        written, failed, before = self._reported
        dropped = {reason: points - before[reason] for reason, points in dropped_by.items() if points != before[reason]}
        warnings, self._warnings.messages = self._warnings.messages, []
        if stats.written == written and stats.failed_flushes == failed and not dropped and not warnings:
            return None
        self._reported = (stats.written, stats.failed_flushes, dropped_by)
        return {"written": stats.written - written, "failed_flushes": stats.failed_flushes - failed,
                "dropped": dropped, "buffered": stats.buffered, "warnings": warnings}  # fmt: skip

    def close(self) -> None:
        self.exporter.close()


def pending_of(figures: list[Any]) -> Pending:
    """A record's figures as the server sent them (JSON) as the exporter keeps them: its exit time a
    datetime again, a figure that was not finite (null) NaN again, so its line leaves it out."""
    values = list(figures)
    values[4] = datetime.fromisoformat(values[4])
    for index in _FLOATS:
        if values[index] is None:
            values[index] = math.nan
    return tuple(values)


def sidecar_sink(config: dict[str, Any]) -> SidecarPoints:
    return SidecarPoints(config["target"], config["options"])
