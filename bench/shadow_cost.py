"""Benchmark 9: what a challenger in the shadow costs the hot path. One-record scoring of the forest at
c=8 on SQLite with fraud@challenger (a second forest) beside fraud@champion, the server started with
CRISPML_SHADOW_SHARE=0 (off) beside one with =1 (on, every request scored again by the challenger after
its answer), both up at once and loaded in turn (`bench.paired`) so that a drifting machine hits both alike.

Beside req/s and latency: each server's CPU milliseconds per answered request within each slice (its
user and system time, children included), the machine's load average at each round, and how many shadow
scores the challenger wrote and dropped (its queue is bounded: a shadow never slows an answer, it is
dropped instead). Goal (issue 16): the shadow costs at most 10 % of requests/s.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx

import crispml
from bench.common import goal, scratch, synthetic_csv
from bench.paired import SCORE_PATH, alternate_timing_cpu, both_up, described, kept, summary
from bench.serve import _champions
from bench.switched import ROUNDS

GOAL_SHADOW_OVER_NONE = 0.90


def run(rows: int) -> dict[str, Any]:
    csv = synthetic_csv(rows)
    with scratch("shadow-") as tmp:
        home = tmp / "sqlite"
        _models, records = _champions(home, None, csv, ("rf",))
        _challenger(home)
        rounds = [_round(home, tmp, {"records": records[:1]}) for _ in range(ROUNDS)]
    found = summary([r["slices"] for r in rounds])
    figures = found["figures"]
    return {
        "name": "shadow",
        "rows": rows,
        "load": described(ROUNDS, "the shadow"),
        "headline": [
            {
                "benchmark": f"score c8 shadow {side}",
                "req_per_s": round(f["requests_per_s"]),
                "p99_ms": round(f["pooled_p99_ms"], 2),
                "cpu_ms_per_request": round(f["cpu_ms_per_request"], 3),
            }
            for side, f in figures.items()
        ],
        "one_record_c8": figures,
        "rounds": [
            {
                "shadow_scores": r["shadow_scores"],
                "shadow_dropped": r["shadow_dropped"],
                "load_average_1m": r["load_average_1m"],
                **{side: [kept(s) for s in r["slices"][side]] for side in ("off", "on")},
            }
            for r in rounds
        ],
        "ratios": {
            "on_over_off_req_per_s": found["rps_ratio"],
            "on_over_off_req_per_s_of_medians": found["rps_ratio_of_medians"],
            "on_over_off_p99": found["p99_ratio"],
            "on_over_off_cpu_ms_per_request": found["cpu_ratio"],
            "slice_ratios": found["slice_ratios"],
        },
        "goals": [
            goal(
                "one-record req/s with a shadow challenger over without",
                found["rps_ratio"],
                GOAL_SHADOW_OVER_NONE,
                at_least=True,
            )
        ],
    }


def _challenger(home: Path) -> None:
    """fraud@challenger: a forest like the champion's, trained with another class weight."""
    with crispml.connect(home=home) as cml:
        champion = cml.lifecycle.get_model("fraud@champion")
        model = cml.train(champion.dataset_id, algorithm="rf", frames="1-6", weight=5, name="fraud")
        cml.persist(model.ref, alias="challenger")


def _round(home: Path, tmp: Path, body: dict[str, Any]) -> dict[str, Any]:
    """One pair of servers (share 0 and 1) loaded in turn; each slice with the server's CPU ms per request."""
    sides = {"off": {"CRISPML_SHADOW_SHARE": "0"}, "on": {"CRISPML_SHADOW_SHARE": "1"}}
    with both_up(home, tmp, sides) as urls:
        slices = alternate_timing_cpu(urls, SCORE_PATH, body, tmp)
        shadow = _metric(urls["on"], "crispml_shadow_scores_total"), _metric(urls["on"], "crispml_shadow_dropped_total")
    return {
        "slices": slices,
        "shadow_scores": shadow[0],
        "shadow_dropped": shadow[1],
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _metric(url: str, name: str) -> float:
    """The sum of a counter's series in the server's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([\d.e+]+)$", text, re.MULTILINE))
