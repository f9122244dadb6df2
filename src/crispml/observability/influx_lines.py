"""InfluxDB line protocol: one perf record as one line, as the reference's perfLogExit wrote it.

One point per finished call, at its exit time: measurement, tags `method`, `dataset`, `model`,
`outcome`, `host` (absent when empty), fields `duration_s`, `cpu_s`, `peak_rss_mb`, `gc_runs`,
`rows_in`, `rows_out`, `pid` and `request_id` (when known). The exporter (`crispml.observability.influx`)
keeps a record's `pending` figures and formats them with `pending_line`, a batch at a time.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from crispml.domain import Outcome, PerfRecord

_EPOCH, _MICROSECOND = datetime(1970, 1, 1, tzinfo=UTC), timedelta(microseconds=1)

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
