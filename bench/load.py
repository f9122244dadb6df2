"""Load from wrk (Debian's package): one run's figures, and the median of repeated runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import median

SECONDS = int(os.environ.get("CRISPML_BENCH_SECONDS", "10"))
REPEATS = int(os.environ.get("CRISPML_BENCH_REPEATS", "3"))
WARM_UP_SECONDS = min(2, SECONDS)
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk(url: str, body: dict[str, Any], concurrency: int, seconds: int, tmp: Path) -> dict[str, Any]:
    """POST `body` as fast as `concurrency` connections allow for `seconds`; requests/s and latencies."""
    script = tmp / "post.lua"
    payload = json.dumps(body)
    # A key set by `crispml_server` (CRISPML_BENCH_KEYS=1) rides along; servers that do not ask ignore it.
    key = os.environ.get("CRISPML_API_KEY")
    auth = f'wrk.headers["Authorization"] = "Bearer {key}"\n' if key else ""
    latencies = tmp / "latencies.txt"
    latencies.unlink(missing_ok=True)  # a run that wrote none must not be read another's
    script.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n{auth}wrk.body = [==[{payload}]==]\n'
        + _DUMP_LATENCIES.replace("PATH", str(latencies))
    )
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--latency", "--timeout", "10s", "-s", str(script)]
    done = subprocess.run([*command, url], capture_output=True, text=True, check=True)
    found = _parse_wrk(done.stdout)
    found["latency_us"] = _histogram(latencies.read_text())
    return found


# wrk's done() hook sees every answer's latency (distinct microsecond values and their counts); kept, so
# percentiles can be taken over many runs pooled rather than as a median of each run's own.
_DUMP_LATENCIES = """
done = function(summary, latency, requests)
  local out = io.open("PATH", "w")
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(string.format("%d %d\\n", value, count))
  end
  out:close()
end
"""


def _histogram(text: str) -> Counter[int]:
    histogram: Counter[int] = Counter()
    for line in text.splitlines():
        value, count = line.split()
        histogram[int(value)] += int(count)
    return histogram


def percentile_ms(histogram: Counter[int], percent: float) -> float:
    """The `percent` percentile of a latency histogram (microseconds: count), in milliseconds, as wrk
    takes it: the smallest latency at or below which `percent` of the answers fall."""
    total = sum(histogram.values())
    if not total:
        raise ValueError("no latencies to take a percentile of")
    wanted, seen = percent / 100 * total, 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= wanted:
            return round(value / 1000, 3)
    raise AssertionError("unreachable: the counts sum to the total")


def _parse_wrk(text: str) -> dict[str, Any]:
    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE)
        if found is None:
            raise RuntimeError(f"wrk printed no {percent}% latency:\n{text}")
        return round(float(found.group(1)) * _UNIT_MS[found.group(2)], 3)

    requests = re.search(r"(\d+) requests in", text)
    per_second = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if requests is None or per_second is None:
        raise RuntimeError(f"wrk printed no totals:\n{text}")
    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {
        "requests": int(requests.group(1)),
        "requests_per_s": round(float(per_second.group(1)), 1),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(failed.group(1)) if failed else 0,
        "socket_errors": errors.group(1).strip() if errors else None,
    }


def measure(url: str, body: dict[str, Any], concurrency: int, tmp: Path) -> dict[str, Any]:
    """`REPEATS` runs after a warm-up: the median of each figure, beside every run's figures.

    A single run on a shared machine swings by a third; the median of three is what is quoted.
    """
    wrk(url, body, concurrency, WARM_UP_SECONDS, tmp)
    runs = [wrk(url, body, concurrency, SECONDS, tmp) for _ in range(REPEATS)]
    failed = sum(run["non_2xx"] for run in runs)
    if failed:
        raise RuntimeError(f"{url} answered {failed} requests with an error")
    result: dict[str, Any] = {key: median([run[key] for run in runs]) for key in ("requests_per_s", "p50_ms", "p99_ms")}
    result["requests"] = sum(run["requests"] for run in runs)
    result["runs"] = [{key: run[key] for key in ("requests_per_s", "p50_ms", "p99_ms")} for run in runs]
    return result
