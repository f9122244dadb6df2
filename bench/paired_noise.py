"""Benchmark 10: the paired method's own noise. Two servers with the same settings (the defaults), up at
once and loaded in turn as the switched benchmarks load theirs (`bench.paired`): an A/A pair, whose ratio
would be 1 on a perfectly quiet machine. How far it strays bounds what the auth, observability and shadow
benchmarks can tell apart on this machine; their verdicts are read beside it.
"""

from __future__ import annotations

from typing import Any

from bench.common import goal
from bench.switched import compare

WITHIN = 0.03
"""An A/A ratio further than this from 1 says the machine was too noisy for a 5 % verdict."""


def run(rows: int) -> dict[str, Any]:
    result = compare("noise", rows, {}, {}, what="nothing switched", min_rps_ratio=1 - WITHIN)
    result["goals"].append(
        goal("A/A req/s ratio (no more than)", result["ratios"]["on_over_off_req_per_s"], 1 + WITHIN)
    )
    return result
