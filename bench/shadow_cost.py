"""Benchmark 9: what a challenger in the shadow costs the hot path. One-record scoring of the forest at
c=8 on SQLite with fraud@challenger (a second forest) beside fraud@champion, the server started with
CRISPML_SHADOW_SHARE=0 (off) and =1 (on, every request scored again by the challenger after its answer),
alternated round by round as `bench.switched` does so that a noisy machine hits both alike.

Beside req/s and latency: the server's CPU milliseconds per answered request within each wrk run (its
user and system time, children included), the machine's load average at each round, and how many shadow
scores the challenger wrote and dropped (its queue is bounded: a shadow never slows an answer, it is
dropped instead). Goal (issue 16): the shadow costs at most 10 % of requests/s.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from statistics import median
from typing import Any

import httpx
import psutil

import crispml
from bench.common import goal, ratio, scratch, synthetic_csv
from bench.load import REPEATS, SECONDS, WARM_UP_SECONDS, wrk
from bench.serve import _champions
from bench.servers import crispml_server
from bench.switched import ROUNDS, _environment

GOAL_SHADOW_OVER_NONE = 0.90
FIGURES = ("requests_per_s", "p50_ms", "p99_ms", "cpu_ms_per_request")


def run(rows: int) -> dict[str, Any]:
    csv = synthetic_csv(rows)
    with scratch("shadow-") as tmp:
        home = tmp / "sqlite"
        _models, records = _champions(home, None, csv, ("rf",))
        _challenger(home)
        one = {"records": records[:1]}
        rounds = [
            {side: _round(home, tmp, one, share) for side, share in (("off", "0"), ("on", "1"))} for _ in range(ROUNDS)
        ]
    figures = {side: {key: median(r[side][key] for r in rounds) for key in FIGURES} for side in ("off", "on")}
    rps = ratio(figures["on"]["requests_per_s"], figures["off"]["requests_per_s"])
    return {
        "name": "shadow",
        "rows": rows,
        "load": (
            f"wrk -t1 -c8, one record per request, {ROUNDS} alternating rounds of the shadow off and on, each the "
            f"median of {REPEATS} runs of {SECONDS} s after a {WARM_UP_SECONDS} s warm-up"
        ),
        "headline": [
            {
                "benchmark": f"score c8 shadow {side}",
                "req_per_s": round(f["requests_per_s"]),
                "p99_ms": round(f["p99_ms"], 2),
                "cpu_ms_per_request": round(f["cpu_ms_per_request"], 3),
            }
            for side, f in figures.items()
        ],
        "one_record_c8": figures,
        "rounds": rounds,
        "ratios": {
            "on_over_off_req_per_s": rps,
            "on_over_off_p99": ratio(figures["on"]["p99_ms"], figures["off"]["p99_ms"]),
            "on_over_off_cpu_ms_per_request": ratio(
                figures["on"]["cpu_ms_per_request"], figures["off"]["cpu_ms_per_request"]
            ),
        },
        "goals": [
            goal("one-record req/s with a shadow challenger over without", rps, GOAL_SHADOW_OVER_NONE, at_least=True)
        ],
    }


def _challenger(home: Path) -> None:
    """fraud@challenger: a forest like the champion's, trained with another class weight."""
    with crispml.connect(home=home) as cml:
        champion = cml.lifecycle.get_model("fraud@champion")
        model = cml.train(champion.dataset_id, algorithm="rf", frames="1-6", weight=5, name="fraud")
        cml.persist(model.ref, alias="challenger")


def _round(home: Path, tmp: Path, body: dict[str, Any], share: str) -> dict[str, Any]:
    with _environment({"CRISPML_SHADOW_SHARE": share}), crispml_server(home, None, 1, tmp) as url:
        score = f"{url}/api/v1/models/fraud/score"
        server = _server_process(url)
        wrk(score, body, 8, WARM_UP_SECONDS, tmp)
        runs = []
        for _ in range(REPEATS):
            before = _cpu_s(server)
            found = wrk(score, body, 8, SECONDS, tmp)
            found["cpu_ms_per_request"] = round((_cpu_s(server) - before) * 1000 / max(1, found["requests"]), 3)
            runs.append(found)
        shadow = _metric(url, "crispml_shadow_scores_total"), _metric(url, "crispml_shadow_dropped_total")
    if any(r["non_2xx"] for r in runs):
        raise RuntimeError(f"{score} answered requests with an error")
    result: dict[str, Any] = {key: median(r[key] for r in runs) for key in FIGURES}
    result["load_average_1m"] = round(os.getloadavg()[0], 2)
    result["shadow_scores"], result["shadow_dropped"] = shadow
    result["runs"] = [{key: r[key] for key in FIGURES} for r in runs]
    return result


def _server_process(url: str) -> psutil.Process:
    """The `crispml serve` process this benchmark started for `url`."""
    port = url.rsplit(":", 1)[1]
    for process in psutil.Process().children(recursive=True):
        command = process.cmdline()
        if "serve" in command and port in command:
            return process
    raise RuntimeError(f"no crispml serve process on port {port}")


def _cpu_s(process: psutil.Process) -> float:
    """User and system CPU seconds of the server and its children so far."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        times = each.cpu_times()
        total += times.user + times.system
    return total


def _metric(url: str, name: str) -> float:
    """The sum of a counter's series in the server's /metrics."""
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([\d.e+]+)$", text, re.MULTILINE))
