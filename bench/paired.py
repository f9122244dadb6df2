"""Two servers, one switch: both up at once, wrk loading them in turn in short slices.

A shared machine's speed drifts by a tenth and more over minutes (other tenants, the host). Two servers
measured one after the other see two different machines, and a 5 % switch drowns in that. Up together
and loaded in turn every few seconds (off, on, on, off, ...: neither side always goes first), both see
the same drift, and the ratio of each slice to its neighbour on the other side is what the switch costs.
An A/A pair (the same settings on both sides) shows the method's own noise: see the README's figures.

Both servers share one home: the one not loaded idles (a few background ticks), and each one's ledger
rows are counted to check that every answer was persisted.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import psutil

from bench.common import ratio
from bench.load import WARM_UP_SECONDS, percentile_ms, wrk
from bench.servers import crispml_server

SCORE_PATH = "/api/v1/models/fraud/score"
SLICES = int(os.environ.get("CRISPML_BENCH_SLICES", "8"))
"""Slices per side and round."""
SLICE_SECONDS = int(os.environ.get("CRISPML_BENCH_SLICE_SECONDS", "3"))
FIGURES = ("requests_per_s", "p50_ms", "p99_ms")
SideHook = Callable[[str], float]
"""Read before and after every slice of a side (say, the server's CPU seconds): the slice gets the difference."""


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Servers started in the block see `values` (None: unset); the environment is restored after."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        _put(values)
        yield
    finally:
        _put(saved)


def _put(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def described(rounds: int, what: str) -> str:
    """The results' "load" text: how the pairs of servers with `what` off and on were loaded."""
    return (
        f"wrk -t1 -c8, one record per request; {rounds} rounds of a server with {what} off beside one with "
        f"it on, both up at once, each loaded in turn for {SLICES} slices of {SLICE_SECONDS} s (ABBA order) "
        f"after a {WARM_UP_SECONDS} s warm-up"
    )


@contextmanager
def both_up(home: Path, tmp: Path, sides: Mapping[str, Mapping[str, str | None]]) -> Iterator[dict[str, str]]:
    """A crispml server per side, started in order with that side's environment; the last side's
    environment stays on while the block runs (what a server started with it hands wrk, such as an API
    key, is then still there)."""
    with ExitStack() as stack:
        urls: dict[str, str] = {}
        names = list(sides)
        for name in names:
            values = environment(sides[name])
            if name == names[-1]:
                stack.enter_context(values)
                urls[name] = stack.enter_context(crispml_server(home, None, 1, tmp))
            else:
                with values:
                    urls[name] = stack.enter_context(crispml_server(home, None, 1, tmp))
        yield urls


def alternate(
    urls: Mapping[str, str],
    path: str,
    body: dict[str, Any],
    tmp: Path,
    *,
    concurrency: int = 8,
    hook: SideHook | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """`SLICES` wrk slices of `SLICE_SECONDS` per side, each POSTing `body` to `path`, after a warm-up of
    each, in ABBA order; each slice's figures (with `hook`'s difference as "hook" when given). Raises if
    any answer was an error, quoting one."""
    sides = list(urls)
    for url in urls.values():
        wrk(url + path, body, concurrency, WARM_UP_SECONDS, tmp)
    slices: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for index in range(SLICES):
        for side in sides if index % 2 == 0 else reversed(sides):
            before = hook(side) if hook else 0.0
            found = wrk(urls[side] + path, body, concurrency, SLICE_SECONDS, tmp)
            if hook:
                found["hook"] = hook(side) - before
            if found["non_2xx"]:
                answer = httpx.post(urls[side] + path, json=body, timeout=30)
                raise RuntimeError(
                    f"{urls[side]} answered {found['non_2xx']} requests with an error, such as "
                    f"{answer.status_code} {answer.text[:500]}"
                )
            slices[side].append(found)
    return slices


def alternate_timing_cpu(
    urls: Mapping[str, str], path: str, body: dict[str, Any], tmp: Path
) -> dict[str, list[dict[str, Any]]]:
    """`alternate`, each slice also with its server's CPU milliseconds per answered request
    (`cpu_ms_per_request`): in a server bound by one GIL, what a switch costs is CPU per answer first."""
    servers = {side: server_process(url) for side, url in urls.items()}
    slices = alternate(urls, path, body, tmp, hook=lambda side: cpu_s(servers[side]))
    for side in slices.values():
        for found in side:
            found["cpu_ms_per_request"] = round(found.pop("hook") * 1000 / max(1, found["requests"]), 3)
    return slices


def server_process(url: str) -> psutil.Process:
    """The `crispml serve` process this benchmark started for `url`."""
    port = url.rsplit(":", 1)[1]
    for process in psutil.Process().children(recursive=True):
        command = process.cmdline()
        if "serve" in command and port in command:
            return process
    raise RuntimeError(f"no crispml serve process on port {port}")


def cpu_s(process: psutil.Process) -> float:
    """User and system CPU seconds of the server and its children so far."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        times = each.cpu_times()
        total += times.user + times.system
    return total


def summary(rounds: list[dict[str, list[dict[str, Any]]]], off: str = "off", on: str = "on") -> dict[str, Any]:
    """Each side's median figures over every slice of every round, and the switch's ratios: the median of
    the slice pairs' ratios (the headline) beside the ratio of the medians; for slices with CPU per
    answer (`alternate_timing_cpu`), its medians and the median of its slice pairs' ratios too.

    p99 is also taken over every answer of a side pooled (`pooled_p99_ms`), and that is the p99 ratio: a
    slice's own p99 rests on its slowest few dozen answers, so a median of slice p99s moved by a fifth
    between runs of the same code, while the pooled one rests on a side's slowest thousand."""
    every = {side: [s for r in rounds for s in r[side]] for side in (off, on)}
    keys = (*FIGURES, *(("cpu_ms_per_request",) if all(_CPU in s for s in every[off] + every[on]) else ()))
    figures = {side: {key: median(s[key] for s in slices) for key in keys} for side, slices in every.items()}
    for side, slices in every.items():
        figures[side]["pooled_p99_ms"] = _pooled_p99(slices)
    pairs = [b["requests_per_s"] / a["requests_per_s"] for r in rounds for a, b in zip(r[off], r[on], strict=True)]
    found = {
        "figures": figures,
        "rps_ratio": round(median(pairs), 3),
        "rps_ratio_of_medians": ratio(figures[on]["requests_per_s"], figures[off]["requests_per_s"]),
        "p99_ratio": ratio(figures[on]["pooled_p99_ms"], figures[off]["pooled_p99_ms"]),
        "p99_ratio_of_slice_medians": ratio(figures[on]["p99_ms"], figures[off]["p99_ms"]),
        "round_p99_ratios": [ratio(_pooled_p99(r[on]), _pooled_p99(r[off])) for r in rounds],
        "slice_ratios": [round(p, 3) for p in pairs],
    }
    if _CPU in keys:
        cpu = [b[_CPU] / a[_CPU] for r in rounds for a, b in zip(r[off], r[on], strict=True)]
        found["cpu_ratio"] = round(median(cpu), 3)
    return found


_CPU = "cpu_ms_per_request"


def _pooled_p99(slices: list[dict[str, Any]]) -> float:
    return percentile_ms(sum((s["latency_us"] for s in slices), Counter()), 99)


def kept(slice_: dict[str, Any]) -> dict[str, Any]:
    """What the results file keeps of a slice."""
    return {key: slice_[key] for key in (*FIGURES, "requests", _CPU) if key in slice_}
