"""What a switch costs the hot path: one-record scoring of the forest at c=8 on SQLite, a server with a set
of settings off beside one with them on, both up at once and loaded in turn (`bench.paired`); over
`ROUNDS` fresh pairs, each side's median figures and the median ratio of neighbouring slices. Used by
the authentication and the observability benchmarks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from bench.common import goal, scratch, synthetic_csv
from bench.paired import SCORE_PATH, alternate_timing_cpu, both_up, described, kept, summary
from bench.serve import _champions, _ledger_batches

ROUNDS = int(os.environ.get("CRISPML_BENCH_ROUNDS", "3"))


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
    """`ROUNDS` rounds of a server started with `off` beside one started with `on` (environment values)."""
    csv = synthetic_csv(rows)
    with scratch(f"{name}-") as tmp:
        home = tmp / "sqlite"
        _models, records = _champions(home, None, csv, ("rf",))
        body = {"records": records[:1]}
        rounds = []
        for _ in range(ROUNDS):
            before = _ledger_batches(home, None)
            with both_up(home, tmp, {"off": off, "on": on}) as urls:
                slices = alternate_timing_cpu(urls, SCORE_PATH, body, tmp)
            answered = sum(s["requests"] for side in slices.values() for s in side)
            persisted = _ledger_batches(home, None) - before
            # wrk counts answers within its slices only; warm-up requests persisted too, hence >=.
            if persisted < answered:
                raise RuntimeError(f"{answered} requests answered but only {persisted} batches persisted")
            rounds.append(slices)
    found = summary(rounds)
    figures = found["figures"]
    goals = [goal(f"one-record req/s with {what} over without", found["rps_ratio"], min_rps_ratio, at_least=True)]
    if max_p99_ratio is not None:
        p99 = found["p99_ratio"]
        goals.append(
            goal(f"one-record p99 (all answers pooled) with {what} over without", p99, max_p99_ratio, at_least=False)
        )
    return {
        "name": name,
        "rows": rows,
        "load": described(ROUNDS, what),
        "settings": {"off": dict(off), "on": dict(on)},
        "headline": [_headline(what, side, f) for side, f in figures.items()],
        "one_record_c8": figures,
        "rounds": [{side: [kept(s) for s in slices[side]] for side in ("off", "on")} for slices in rounds],
        "ratios": {
            "on_over_off_req_per_s": found["rps_ratio"],
            "on_over_off_req_per_s_of_medians": found["rps_ratio_of_medians"],
            "on_over_off_p99": found["p99_ratio"],
            "on_over_off_p99_median_of_slices": found["p99_ratio_of_slice_medians"],
            "round_p99_ratios": found["round_p99_ratios"],
            "on_over_off_cpu_ms_per_request": found["cpu_ratio"],
            "slice_ratios": found["slice_ratios"],
        },
        "goals": goals,
    }


def _headline(what: str, side: str, figures: dict[str, float]) -> dict[str, Any]:
    return {"benchmark": f"score c8 {what} {side}", "req_per_s": round(figures["requests_per_s"]),
            "p99_ms": round(figures["pooled_p99_ms"], 2),
            "cpu_ms_per_request": round(figures["cpu_ms_per_request"], 3)}  # fmt: skip
