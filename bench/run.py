"""Run the benchmarks, write bench/results/<name>.json and summary.json, and print a short table.

The summary also keeps earlier results (same --rows) of benchmarks left out by --only.

python -m bench.run [--only ingest,train,score,serve,demo,bulk,auth,observability,shadow] [--rows N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import auth_cost, bulk, demo, ingest, observability_cost, paired_noise, score, serve, shadow_cost, train
from bench.common import FULL_ROWS, RESULTS_DIR, machine_info, stamp, write_result

NAMES = ("ingest", "train", "score", "serve", "demo", "bulk", "noise", "auth", "observability", "shadow")


def _bare_floor(results: dict[str, dict[str, Any]]) -> float | None:
    """Sum of the bare baselines the demo's steps stand on, when all are known at this size."""
    try:
        parts = (
            results["ingest"]["medians_s"]["bare"],
            results["train"]["medians_s"]["bare"],
            results["score"]["backends"]["sqlite"]["medians_s"]["bare"],
        )
    except KeyError:
        return None
    return round(float(sum(parts)), 3)


def _previous(out_dir: Path) -> dict[str, dict[str, Any]]:
    """Benchmark results already in `out_dir`, by name."""
    found = {}
    for name in NAMES:
        path = out_dir / f"{name}.json"
        if path.exists():
            found[name] = json.loads(path.read_text())
    return found


def _runners(rows: int, results: dict[str, dict[str, Any]]) -> dict[str, Callable[[], dict[str, Any]]]:
    return {
        "ingest": lambda: ingest.run(rows),
        "train": lambda: train.run(rows),
        "score": lambda: score.run(rows),
        "serve": lambda: serve.run(rows),
        "demo": lambda: demo.run(rows, _bare_floor(results)),
        "bulk": lambda: bulk.run(rows),
        "noise": lambda: paired_noise.run(rows),
        "auth": lambda: auth_cost.run(rows),
        "observability": lambda: observability_cost.run(rows),
        "shadow": lambda: shadow_cost.run(rows),
    }


def _fmt(value: Any, width: int, spec: str) -> str:
    return f"{'-' if value is None else format(value, spec):>{width}}"


def print_table(results: dict[str, dict[str, Any]]) -> None:
    header = f"{'benchmark':<18}{'crispml s':>11}{'bare s':>9}{'ratio':>8}{'rows/s':>11}  goal"
    print("\n" + header + "\n" + "-" * (len(header) + 30))
    for result in results.values():
        if "error" in result:
            print(f"{result['name']:<18}  FAILED: {result['error']}")
            continue
        rows, goals = result["headline"], result["goals"]
        if "crispml_s" not in rows[0]:  # figures of another shape (serve): a line per row, then the goals
            for row in rows:
                print(f"{row['benchmark']:<18}  " + ", ".join(f"{k} {v:,}" for k, v in row.items() if k != "benchmark"))
            for g in goals:
                verdict = "ok" if g["met"] else "MISSED"
                print(f"{'':<18}  {g['metric']}: {g['value']:,} {g['op']} {g['limit']:g} {verdict}")
            continue
        paired = [[g] for g in goals] if len(goals) == len(rows) else [goals] + [[]] * (len(rows) - 1)
        for row, mine in zip(rows, paired, strict=True):
            text = "; ".join(f"{g['op']} {g['limit']:g} {'ok' if g['met'] else 'MISSED'}" for g in mine)
            if "peak_rss_mib" in row:
                text += f" (peak {row['peak_rss_mib']:.0f} MiB)"
            print(
                f"{row['benchmark']:<18}{_fmt(row['crispml_s'], 11, '.2f')}{_fmt(row['bare_s'], 9, '.2f')}"
                f"{_fmt(row['ratio'], 8, '.2f')}{_fmt(row['rows_per_s'], 11, ',')}  {text}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(NAMES), help="comma-separated subset of " + ",".join(NAMES))
    parser.add_argument("--rows", type=int, default=FULL_ROWS, help="rows of synthetic data (default: full size)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR, help="folder for the JSON results")
    args = parser.parse_args(argv)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(NAMES)}")

    machine = machine_info()
    # Results of benchmarks not re-run now stay in the summary when they were run at the same size.
    results = {n: r for n, r in _previous(args.out).items() if r.get("rows") == args.rows and n not in chosen}
    runners = _runners(args.rows, results)
    for name in (n for n in NAMES if n in chosen):
        print(f"[{stamp()}] {name} ({args.rows:,} rows) ...", flush=True)
        load_before, started = os.getloadavg(), time.perf_counter()
        try:
            result = runners[name]()
        except Exception as exc:
            traceback.print_exc()
            result = {"name": name, "rows": args.rows, "error": f"{exc.__class__.__name__}: {exc}"}
        # Other processes on the machine skew every figure; the load averages show how much.
        load = {"before": load_before, "after": os.getloadavg()}
        result = {"name": name, "finished_at": stamp(), "machine": machine, "load_avg_1_5_15": load, **result}
        results[name] = result
        write_result(name, result, args.out)
        print(f"[{stamp()}] {name} done in {time.perf_counter() - started:.0f}s", flush=True)

    goals = [g for r in results.values() for g in r.get("goals", [])]
    results = {n: results[n] for n in NAMES if n in results}
    summary = {
        "finished_at": stamp(),
        "run_now": [n for n in NAMES if n in chosen],
        "rows": args.rows,
        "machine": machine,
        "benchmarks": {
            n: {k: r[k] for k in ("finished_at", "load_avg_1_5_15", "headline", "goals", "error") if k in r}
            for n, r in results.items()
        },
        "all_goals_met": all(g["met"] for g in goals) and not any("error" in r for r in results.values()),
    }
    write_result("summary", summary, args.out)
    print_table(results)
    print(f"\nresults in {args.out}/; all goals met: {summary['all_goals_met']}")
    return 0 if not any("error" in r for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
