"""What a switch costs the hot path: one-record scoring of the forest at c=8 on SQLite, the same server
with a set of settings off and on, alternated round by round so that a noisy machine hits both alike;
the medians of each side and their ratios. Used by the authentication and the observability benchmarks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from statistics import median
from typing import Any

from bench.common import goal, ratio, scratch, synthetic_csv
from bench.load import REPEATS, SECONDS, WARM_UP_SECONDS
from bench.serve import _champions, _crispml_runs

ROUNDS = int(os.environ.get("CRISPML_BENCH_ROUNDS", "3"))
FIGURES = ("requests_per_s", "p50_ms", "p99_ms")


@contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """The servers started in the block see `values` (None: unset); the environment is restored after."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def compare(
    name: str,
    rows: int,
    off: Mapping[str, str | None],
    on: Mapping[str, str | None],
    *,
    what: str,
    min_rps_ratio: float,
    max_p99_ratio: float | None = None,
) -> dict[str, Any]:
    """Alternate `ROUNDS` rounds of the server started with `off` then with `on` (environment values)."""
    csv = synthetic_csv(rows)
    with scratch(f"{name}-") as tmp:
        _models, records = _champions(tmp / "sqlite", None, csv, ("rf",))

        def one_round(values: Mapping[str, str | None]) -> dict[str, Any]:
            with _environment(values):
                runs = _crispml_runs(tmp / "sqlite", None, records, tmp, workers=1, levels=(8,), batch=False)
            return dict(runs["one_record_c8"])

        rounds = [{"off": one_round(off), "on": one_round(on)} for _ in range(ROUNDS)]
    figures = {side: {key: median(r[side][key] for r in rounds) for key in FIGURES} for side in ("off", "on")}
    rps = ratio(figures["on"]["requests_per_s"], figures["off"]["requests_per_s"])
    p99 = ratio(figures["on"]["p99_ms"], figures["off"]["p99_ms"])
    goals = [goal(f"one-record req/s with {what} over without", rps, min_rps_ratio, at_least=True)]
    if max_p99_ratio is not None:
        goals.append(goal(f"one-record p99 with {what} over without", p99, max_p99_ratio, at_least=False))
    return {
        "name": name,
        "rows": rows,
        "load": (
            f"wrk -t1 -c8, one record per request, {ROUNDS} alternating rounds of {what} off and on, each the "
            f"median of {REPEATS} runs of {SECONDS} s after a {WARM_UP_SECONDS} s warm-up"
        ),
        "settings": {"off": dict(off), "on": dict(on)},
        "headline": [_headline(what, side, f) for side, f in figures.items()],
        "one_record_c8": figures,
        "rounds": rounds,
        "ratios": {"on_over_off_req_per_s": rps, "on_over_off_p99": p99},
        "goals": goals,
    }


def _headline(what: str, side: str, figures: dict[str, float]) -> dict[str, Any]:
    return {"benchmark": f"score c8 {what} {side}", "req_per_s": round(figures["requests_per_s"]),
            "p99_ms": round(figures["p99_ms"], 2)}  # fmt: skip
