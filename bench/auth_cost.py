"""Benchmark 7: what authentication costs the hot path. One-record scoring of the forest at c=8 on
SQLite, the same server setup with API keys off and on (wrk sends a scorer's key), alternated so that
a noisy machine hits both alike; the medians and their ratio. Goal (issue 12): keys cost at most 5 %
of requests/s.
"""

from __future__ import annotations

from typing import Any

from bench.switched import compare

GOAL_KEYS_OVER_NONE = 0.95


def run(rows: int) -> dict[str, Any]:
    # `bench.servers.crispml_server` turns keys on and hands wrk a scorer's key when CRISPML_BENCH_KEYS=1.
    # The key it sets in CRISPML_API_KEY for wrk is forgotten after each round (None: restored as it was).
    off = {"CRISPML_BENCH_KEYS": "0", "CRISPML_API_KEY": None}
    on = {"CRISPML_BENCH_KEYS": "1", "CRISPML_API_KEY": None}
    return compare("auth", rows, off, on, what="keys", min_rps_ratio=GOAL_KEYS_OVER_NONE)
