"""Benchmark 4: `crispml demo` end to end in a subprocess with a fresh CRISPML_HOME: wall time and peak RSS."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import goal, scratch

GOAL_SECONDS = 180.0
GOAL_PEAK_GIB = 2.0
GNU_TIME = "/usr/bin/time"
TIMEOUT_S = 2 * GOAL_SECONDS  # a demo this slow has missed its goal; stop waiting


def _crispml() -> list[str]:
    script = Path(sys.executable).with_name("crispml")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from crispml.cli import main; main()"]


def _run(command: list[str], env: dict[str, str], timeout: float) -> tuple[int | None, str, str]:
    """Run `command` in its own process group; on timeout kill the whole group (returncode None)."""
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        return None, stdout, stderr
    return process.returncode, stdout, stderr


def _peak_kib(stderr: str) -> int | None:
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr)
    return int(found.group(1)) if found else None


def run(rows: int, bare_floor_s: float | None = None) -> dict[str, Any]:
    """One demo run (it is minutes long); `bare_floor_s`: the sum of the latest bare baselines, if known."""
    with scratch("demo-") as tmp:
        env = {k: v for k, v in os.environ.items() if k != "CRISPML_DATABASE_URL"}
        env["CRISPML_HOME"] = str(tmp / "home")
        command = [*_crispml(), "demo", "--json", "--rows", str(rows)]
        use_time = shutil.which(GNU_TIME) is not None
        started = time.perf_counter()
        returncode, stdout, stderr = _run([GNU_TIME, "-v", *command] if use_time else command, env, TIMEOUT_S)
        wall = time.perf_counter() - started
        peak_kib = _peak_kib(stderr) if use_time else None
        if peak_kib is None:  # the largest child this process has waited for: here, the demo
            peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        perf = subprocess.run([*_crispml(), "perf", "--json"], env=env, capture_output=True, text=True)
    records = json.loads(perf.stdout)["items"] if perf.returncode == 0 else []
    methods = {r["method"]: round(r["duration_s"], 3) for r in reversed(records)}
    if returncode is None:
        done = ", ".join(f"{m} {s:.1f}s" for m, s in methods.items())
        raise RuntimeError(f"crispml demo did not finish within {TIMEOUT_S:.0f}s (methods done: {done})")
    if returncode != 0:
        raise RuntimeError(f"crispml demo failed ({returncode}): {stderr[-2000:]}")
    output = json.loads(stdout)
    overall: dict[str, Any] = next((row for row in output["verification"] if row["frame"] == "all"), {})
    peak_gib = peak_kib / 2**20
    result: dict[str, Any] = {
        "name": "demo",
        "rows": rows,
        "command": " ".join(command[-4:]),
        "peak_source": "/usr/bin/time -v" if use_time else "getrusage(RUSAGE_CHILDREN).ru_maxrss",
        "timings_s": {"wall": wall, "in_process": output["seconds"]},
        "methods_s": methods,
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "verified_roc_auc": overall.get("roc_auc"),
        "goals": [
            goal("wall seconds", wall, GOAL_SECONDS, strict=True),
            goal("peak RSS GiB", peak_gib, GOAL_PEAK_GIB, strict=True),
        ],
        "headline": [
            {
                "benchmark": "demo",
                "crispml_s": wall,
                "bare_s": bare_floor_s,
                "rows_per_s": None,
                "ratio": round(wall / bare_floor_s, 3) if bare_floor_s else None,
                "peak_rss_mib": round(peak_kib / 1024, 1),
            }
        ],
    }
    if bare_floor_s:
        result["bare_floor_s"] = bare_floor_s
        result["bare_floor"] = "sum of the latest bare ingest, rf fit and SQLite predict_proba medians (same rows)"
    return result
