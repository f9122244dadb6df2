"""Performance records: one span per method call, as the reference's perfLogEntry/perfLogExit.

A span measures wall time, CPU time, garbage-collector runs and the process's peak memory, plus the rows
the method took in and gave out, and hands the finished record to a sink (the database). A failing
sink never fails the method it measured.
"""

from __future__ import annotations

import gc
import logging
import os
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter

from crispml.domain import Outcome, PerfRecord
from crispml.identity import request_id

log = logging.getLogger("crispml.perf")


@dataclass
class Span:
    """What a method tells its span while it runs."""

    method: str
    rows_in: int | None = None
    rows_out: int | None = None
    dataset: str | None = None
    model: str | None = None


_COLLECTIONS = itemgetter("collections")


def _gc_runs() -> int:
    return sum(map(_COLLECTIONS, gc.get_stats()))  # no generator: twice per scored request


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux: the process's high-water mark, as the reference's memTotal.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class PerfClock:
    """A span started: `finish` measures it and builds its record, for work that ends elsewhere (a
    commit completing on another thread) as well as for `perf_span`."""

    def __init__(self, method: str) -> None:
        self.span = Span(method)
        self._request_id = request_id()
        self._started_at = datetime.now(UTC)
        self._wall, self._cpu, self._gc_before = time.perf_counter(), time.process_time(), _gc_runs()

    def finish(self, error: BaseException | None = None) -> PerfRecord:
        span = self.span
        return PerfRecord(
            method=span.method,
            started_at=self._started_at,
            duration_s=time.perf_counter() - self._wall,
            rows_in=span.rows_in,
            rows_out=span.rows_out,
            peak_rss_mb=round(_peak_rss_mb(), 1),
            cpu_s=time.process_time() - self._cpu,
            gc_runs=_gc_runs() - self._gc_before,
            outcome=Outcome.OK if error is None else Outcome.ERROR,
            dataset=span.dataset,
            model=span.model,
            error=None if error is None else f"{error.__class__.__name__}: {error}"[:2000],
            pid=os.getpid(),
            request_id=self._request_id,
        )


PerfObserver = Callable[[PerfRecord], None]
"""Something else told of every finished perf record (metrics, an exporter): it must be quick and not
block, since it runs on the measured call's thread."""

_observers: tuple[PerfObserver, ...] = ()


def add_perf_observer(observer: PerfObserver) -> None:
    """Tell `observer` of every perf record this process finishes from now on."""
    global _observers
    _observers = (*_observers, observer)


def remove_perf_observer(observer: PerfObserver) -> None:
    global _observers
    _observers = tuple(o for o in _observers if o is not observer)


def store_perf(record: PerfRecord, sink: Callable[[PerfRecord], None]) -> None:
    """Hand a record to its sink, then to the observers; a failing one is logged, never raised."""
    for target in (sink, *_observers):
        try:
            target(record)
        except Exception:  # the measurement must never break the measured call
            log.warning("could not hand on the perf record of %s", record.method, exc_info=True)


@contextmanager
def perf_span(method: str, sink: Callable[[PerfRecord], None]) -> Iterator[Span]:
    """Measure the enclosed block and write one PerfRecord, whatever its outcome."""
    clock = PerfClock(method)
    error: BaseException | None = None
    try:
        yield clock.span
    except BaseException as exc:
        error = exc
        raise
    finally:
        store_perf(clock.finish(error), sink)
