"""The load test's report: Locust's CSV read back, JSON and Markdown written, throughput and latency plotted."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bench.common import machine_info, stamp


def _records_per_s(step: dict[str, Any]) -> float:
    """Records scored per second: one per one-record request, N per 'score N records' request."""
    scored = 0.0
    for name, figures in step["requests"].items():
        if name.startswith("score "):
            scored += figures["requests_per_s"] * int(name.split()[1].replace(",", ""))
    return round(scored, 1)


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def request_table(steps: list[dict[str, Any]]) -> list[str]:
    lines = ["| workers | request | requests | req/s | p50 ms | p95 ms | p99 ms | failures |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for step in steps:
        for name, r in sorted(step["requests"].items()):
            latency = " | ".join(_fmt(r[p]) for p in ("p50_ms", "p95_ms", "p99_ms"))
            lines.append(f"| {step['workers']} | {name} | {r['requests']:,} | {r['requests_per_s']:,.1f} | {latency} | "
                         f"{r['failures']} |")  # fmt: skip
    return lines


def step_table(steps: list[dict[str, Any]]) -> list[str]:
    lines = ["| workers | all req/s | records scored/s | server CPU s (per worker) | server cores busy | "
             "server CPU ms/request | Locust CPU s | HAProxy CPU s | load avg (1 min) | thresholds |",
             "|---:|---:|---:|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
    for step in steps:
        per_worker = " + ".join(f"{s:.1f}" for s in step["server_cpu_s"])
        verdict = "; ".join(step["thresholds_crossed"]) or "met"
        busy = sum(step["server_cpu_s"]) / step["seconds"]
        lines.append(f"| {step['workers']} | {step['total']['requests_per_s']:,.1f} | {_records_per_s(step):,.0f} | "
                     f"{per_worker} | {busy:.2f} | {step['server_cpu_ms_per_request']:.2f} | "
                     f"{step['load_generator_cpu_s']:.1f} | {step['balancer_cpu_s']:.1f} | "
                     f"{step['load_avg_1_5_15']['after'][0]:.1f} | {verdict} |")  # fmt: skip
    return lines


def markdown(report: dict[str, Any]) -> str:
    config, machine = report["config"], report["machine"]
    bounds = report["steps"][0].get("p95_bounds_ms") or {}
    lines = [
        f"# crispml load test, {report['finished_at']}",
        "",
        f"{machine['cpu_count']} CPUs, {machine['memory_gib']} GiB; crispml on PostgreSQL behind HAProxy (round "
        f"robin); Locust on the same machine: {config['users']} users (one trainer), {config['seconds']} s per "
        f"step; {config['rows']:,} generated rows, training on {config['train_percent']:.0%} samples; API keys "
        f"{'required' if config['keys'] else 'off'}.",
        "",
        *request_table(report["steps"]),
        "",
        *step_table(report["steps"]),
        "",
        f"p95 bounds (ms): {', '.join(f'{name} {bound:g}' for name, bound in bounds.items()) or '-'}; and no "
        "failed request.",
        "",
        f"Passed: {'yes' if report['passed'] else 'NO'}.",
        "",
    ]
    return "\n".join(lines)


def plot(steps: list[dict[str, Any]], path: Path) -> None:
    """Throughput and latency of each scoring request type against workers, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = [step["workers"] for step in steps]
    names = sorted({name for step in steps for name in step["requests"] if name.startswith("score ")})
    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4.5))
    for number, name in enumerate(names):
        rows = [step["requests"].get(name, {}) for step in steps]
        color = f"C{number}"
        throughput.plot(workers, [r.get("requests_per_s", 0) for r in rows], marker="o", color=color, label=name)
        for percentile, style in (("p50_ms", "-"), ("p95_ms", "--")):
            latency.plot(workers, [r.get(percentile) or float("nan") for r in rows], style, marker="o", color=color,
                         label=f"{name} {percentile.removesuffix('_ms')}")  # fmt: skip
    throughput.plot(workers, [_records_per_s(step) for step in steps], ":", marker="s", color=f"C{len(names)}",
                    label="records scored/s")  # fmt: skip
    xlabel = "worker processes (1-minute load average after the step)"
    throughput.set(title="Throughput", xlabel=xlabel, ylabel="per second", yscale="log")
    latency.set(title="Latency", xlabel=xlabel, ylabel="ms", yscale="log")
    # What else ran on the machine shows in each step's load average: it skews every figure.
    ticks = [f"{step['workers']}\nload {step['load_avg_1_5_15']['after'][0]:.1f}" for step in steps]
    for axes in (throughput, latency):
        axes.set_xticks(workers, ticks)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize="small")
    figure.suptitle("crispml on PostgreSQL behind HAProxy, Locust on the same machine")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


CONFIG_SHOWN = ("workers", "seconds", "users", "spawn_rate", "rows", "train_percent", "train_params", "keys")


def write_report(steps: list[dict[str, Any]], config: Any) -> dict[str, Any]:
    """report.json, report.md and report.png in `config.out`; the report, with `passed` set."""
    passed = all(step["locust_exit_code"] == 0 and not step["thresholds_crossed"] and step["total"]["failures"] == 0
                 for step in steps)  # fmt: skip
    report = {
        "finished_at": stamp(),
        "machine": machine_info(),
        "config": {name: getattr(config, name) for name in CONFIG_SHOWN},
        "load": "locust --headless (load/locustfile.py): one trainer (ingest a sample, prepare, train), scorers of one "
        "record and of 1,000 records at 8 to 2, no wait between requests",
        "steps": steps,
        "passed": passed,
    }
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    temporary = out / "report.json.tmp"
    temporary.write_text(json.dumps(report, indent=2, default=str) + "\n")
    os.replace(temporary, out / "report.json")
    (out / "report.md").write_text(markdown(report))
    plot(steps, out / "report.png")
    return report
