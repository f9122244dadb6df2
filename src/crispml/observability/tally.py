"""Histogram observations (and counter increments) of the hot paths, tallied in a list and added to
their series in bulk.

prometheus-client's `Histogram.observe` is five Python calls and two lock round trips per observation.
The one-record scoring path observed three histograms per request (its latency, its method's duration,
its share of a group commit): as many Python calls as all of crispml's own observability code on that
path together. A `Tally` is a list: observing is `tally.append(value)`, one C call, atomic under the GIL
from any thread. `fold_all` adds what each tally gathered to its series: to a histogram, one `inc` per
bucket touched and one for the sum, whatever the number of observations; to a counter, their sum.

`exposition` folds before it answers, so a scrape sees every observation its process made; a daemon
thread (`Folder`) folds every `FOLD_EVERY_S` as well, so that with several worker processes each
worker's counts reach the files prometheus-client's multiprocess mode shares, whichever worker a scrape
reaches; and a worker folds once more as it ends.
"""

from __future__ import annotations

import logging
import math
import threading
from bisect import bisect_left
from collections import Counter
from functools import partial
from typing import Any

log = logging.getLogger("crispml.metrics")

FOLD_EVERY_S = 1.0
"""How stale another worker's histograms may be at a scrape (a scrape interval is 15 s or more)."""
FOLD_PAST = 4096
"""Values a tally that is always fed (scores written, with metrics off too) holds before its feeder
folds it: with no scrape and no folder thread, it would otherwise only grow."""


class Tally(list[float]):
    """Observations of one series (a child of a labelled histogram or counter, or an unlabelled one) not
    yet added to it: `append` them; `fold` adds them (to a counter: their sum)."""

    __slots__ = ("_bucket_of", "_series")

    def __init__(self, series: Any) -> None:
        super().__init__()
        self._series = series
        # prometheus-client counts an observation in the first bucket whose upper bound is >= it (the last
        # is +Inf): the bisection finds the same bucket. Its attributes are read here only; a test holds
        # the folded series equal to observing each value.
        bounds = getattr(series, "_upper_bounds", None)
        self._bucket_of = None if bounds is None else partial(bisect_left, bounds)

    def fold(self) -> None:
        """Add what was observed so far to the series (appends meanwhile wait for the next fold)."""
        taken = len(self)
        if not taken:
            return
        values = self[:taken]
        del self[:taken]  # appends land after `taken`: the slice and the deletion drop none of them
        series = self._series
        if self._bucket_of is None:  # a counter
            series.inc(math.fsum(values))
            return
        buckets = series._buckets
        counted = [value for value in values if not math.isnan(value)]  # prometheus-client buckets no NaN
        for bucket, count in Counter(map(self._bucket_of, counted)).items():
            buckets[bucket].inc(count)
        series._sum.inc(math.fsum(values))


_tallies: list[Tally] = []
_registering = threading.Lock()


def tally(series: Any) -> Tally:
    """A new tally of `series`, folded by `fold_all` from now on."""
    found = Tally(series)
    with _registering:
        _tallies.append(found)
    return found


def fold_all() -> None:
    """Add every tally's observations to its series (before a scrape, from the folder thread, at exit)."""
    for each in tuple(_tallies):
        each.fold()


class Folder:
    """The daemon thread that folds every tally every `every_s` until closed."""

    def __init__(self, every_s: float = FOLD_EVERY_S) -> None:
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="crispml-metrics-fold", daemon=True)

    def start(self) -> Folder:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        fold_all()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                fold_all()
            except Exception:  # the next fold tries again; the requests never notice
                log.warning("could not fold the histogram tallies", exc_info=True)
