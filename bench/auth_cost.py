"""Benchmark 7: what authentication costs the hot path. One-record scoring of the forest at c=8 on
SQLite, the same server setup with API keys off and on (wrk sends a scorer's key), alternated so that
a noisy machine hits both alike; the medians and their ratio. Goal (issue 12): keys cost at most 5 %
of requests/s.
"""

from __future__ import annotations

import os
from statistics import median
from typing import Any

from bench.common import goal, ratio, scratch, synthetic_csv
from bench.load import REPEATS, SECONDS, WARM_UP_SECONDS
from bench.serve import _champions, _crispml_runs

ROUNDS = 3
GOAL_KEYS_OVER_NONE = 0.95


def _one_round(home: Any, records: list[dict[str, Any]], tmp: Any, keys: bool) -> dict[str, Any]:
    os.environ["CRISPML_BENCH_KEYS"] = "1" if keys else "0"
    try:
        runs = _crispml_runs(home, None, records, tmp, workers=1, levels=(8,), batch=False)
    finally:
        os.environ.pop("CRISPML_BENCH_KEYS", None)
        os.environ.pop("CRISPML_API_KEY", None)
    return dict(runs["one_record_c8"])


def run(rows: int) -> dict[str, Any]:
    csv = synthetic_csv(rows)
    with scratch("auth-") as tmp:
        _models, records = _champions(tmp / "sqlite", None, csv, ("rf",))
        rounds = [{"keys_off": _one_round(tmp / "sqlite", records, tmp, False),
                   "keys_on": _one_round(tmp / "sqlite", records, tmp, True)} for _ in range(ROUNDS)]  # fmt: skip
    figures = {
        side: {key: median(r[side][key] for r in rounds) for key in ("requests_per_s", "p50_ms", "p99_ms")}
        for side in ("keys_off", "keys_on")
    }
    keys_over_none = ratio(figures["keys_on"]["requests_per_s"], figures["keys_off"]["requests_per_s"])
    return {
        "name": "auth",
        "rows": rows,
        "load": (
            f"wrk -t1 -c8, one record per request, {ROUNDS} alternating rounds of keys off and on, each the median "
            f"of {REPEATS} runs of {SECONDS} s after a {WARM_UP_SECONDS} s warm-up"
        ),
        "headline": [
            {
                "benchmark": f"score c8 {side.replace('_', ' ')}",
                "req_per_s": round(f["requests_per_s"]),
                "p99_ms": round(f["p99_ms"], 2),
            }
            for side, f in figures.items()
        ],
        "one_record_c8": figures,
        "rounds": rounds,
        "ratios": {"keys_on_over_off": keys_over_none},
        "goals": [goal("one-record req/s with keys over without", keys_over_none, GOAL_KEYS_OVER_NONE, at_least=True)],
    }
