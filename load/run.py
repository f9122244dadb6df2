"""`make load`: crispml on PostgreSQL behind HAProxy with 1, 2 and 3 worker processes in turn, under Locust.

Before the steps it writes the generated data (the synthetic twin of the credit-card data set) into a
fresh home's data folder, creates a fresh PostgreSQL database, and trains and persists a champion on a
5 % sample (ingest, prepare, curate, forest on frames 1-6). Each step then starts N single-worker
`crispml serve` processes on ports of their own, HAProxy round-robin over them (each checked on
/readyz), and `locust --headless` (load/locustfile.py) on loopback for a bounded time; it measures the
servers' CPU time (psutil) around the run. The report (JSON and Markdown) and a plot (PNG) go to
load/results/. Processes are stopped, the database dropped and the scratch folder removed at the end,
on an error, on Ctrl-C or SIGTERM.

python -m load.run [--quick] [--workers 1,2,3] [--seconds 60] [--users 12] [--spawn-rate 4] [--rows N]
                   [--keys] [--out load/results]

Each option's default can be set in the environment: CRISPML_LOAD_WORKERS, CRISPML_LOAD_SECONDS,
CRISPML_LOAD_USERS, CRISPML_LOAD_SPAWN_RATE, CRISPML_LOAD_ROWS, CRISPML_LOAD_KEYS=1 (servers require API
keys: scorers send a scorer's, the trainer an admin's). The p95 bounds are the locustfile's
(CRISPML_LOAD_P95_*_MS). PostgreSQL: CRISPML_LOAD_POSTGRES, by default the `test` database on
127.0.0.1:5432, whose server holds the run's own database, created and dropped by the run. Exit status:
0 when every step ran without a failed request or a crossed threshold, 1 otherwise, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import Any

import psutil

from bench.common import postgres_database
from bench.servers import free_port, spawn, stop, wait_ready
from load.balancer import balancer
from load.report import write_report

LOAD_DIR = Path(__file__).resolve().parent
LOCUSTFILE = LOAD_DIR / "locustfile.py"
RESULTS_DIR = LOAD_DIR / "results"
DATA_FILE = "creditcard.parquet"
MODEL = "fraud"
REFERENCE_ROWS = 284_807
POSTGRES = os.environ.get("CRISPML_LOAD_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Config:
    """What a run does: the worker counts in turn, and the load and data of each step."""

    workers: tuple[int, ...] = (1, 2, 3)
    seconds: int = 60
    users: int = 12
    spawn_rate: float = 4.0
    rows: int = REFERENCE_ROWS
    train_percent: float = 0.05
    train_params: dict[str, Any] = field(default_factory=dict)
    """The forest's parameters, the champion's and the training loop's (default: crispml's)."""
    keys: bool = False
    out: Path = RESULTS_DIR
    postgres: str = POSTGRES
    """A database URL on the PostgreSQL server to use; the run creates its own database there and drops it."""
    locust_env: dict[str, str] = field(default_factory=dict)
    """Extra environment for Locust (the locustfile's settings, e.g. a p95 bound)."""


QUICK = Config(workers=(1, 2), seconds=4, users=4, spawn_rate=4.0, rows=10_000, train_percent=1.0,
               train_params={"n_estimators": 10})  # fmt: skip
"""A smoke run (the tests'): tiny data, small forests trained on all of it (a tiny sample may hold no fraud)."""


@dataclass(frozen=True)
class Stage:
    """A prepared store: data in the home's data folder, a champion, keys if asked for."""

    home: Path
    database_url: str
    folder: Path
    config: Config
    server_env: dict[str, str]
    locust_env: dict[str, str]


@contextmanager
def prepared(config: Config) -> Iterator[Stage]:
    """A scratch folder and a fresh PostgreSQL database with the data and a champion; both removed after."""
    from crispml.services.synthesis import write_synthetic

    with ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="crispml-load-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        database_url = stack.enter_context(postgres_database("crispml_load", config.postgres))
        home = folder / "home"
        write_synthetic(home / "data" / DATA_FILE, config.rows)
        keys = _champion(home, database_url, config)
        server_env = {**os.environ, "CRISPML_HOME": str(home), "CRISPML_DATABASE_URL": database_url}
        server_env.pop("CRISPML_DATA_DIR", None)
        locust_env = {**os.environ, "CRISPML_LOAD_MODEL": MODEL, "CRISPML_LOAD_DATA": DATA_FILE,
                      "CRISPML_LOAD_TRAIN_PERCENT": str(config.train_percent),
                      "CRISPML_LOAD_TRAIN_PARAMS": json.dumps(config.train_params), **config.locust_env}  # fmt: skip
        for name in ("CRISPML_API_KEY", "CRISPML_LOAD_TRAIN_KEY"):
            locust_env.pop(name, None)
        server_env.pop("CRISPML_REQUIRE_KEYS", None)
        if config.keys:
            server_env["CRISPML_REQUIRE_KEYS"] = "1"
            locust_env.update(CRISPML_API_KEY=keys["scorer"], CRISPML_LOAD_TRAIN_KEY=keys["admin"])
        yield Stage(home, database_url, folder, config, server_env, locust_env)


def _champion(home: Path, database_url: str, config: Config) -> dict[str, str]:
    """Train and persist the champion on a sample as the training loop takes it; keys when `config.keys`."""
    import crispml
    from crispml.domain import SourceSpec

    with crispml.connect(home=home, database_url=database_url, user="load") as cml:
        source = SourceSpec(path=str(home / "data" / DATA_FILE))
        raw = cml.ingest(source, name="ccf", slices=12, percent_data=config.train_percent, seed=42)
        curated = cml.curate(cml.prepare(raw.id).id, algorithm="rf", frames="1-6")
        model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, params=config.train_params, name=MODEL)
        cml.persist(model.ref, alias="champion")
    if not config.keys:
        return {}
    from crispml.container import Container
    from crispml.settings import Settings

    with Container(Settings(home=home, database_url=database_url)) as container:
        return {role: container.access.create(f"load-{role}", role).key for role in ("admin", "scorer")}


def _cpu_seconds(pid: int) -> float:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        raise RuntimeError(f"process {pid} (a server or HAProxy) died during the step") from None
    return float(times.user + times.system + times.children_user + times.children_system)


@contextmanager
def _servers(stage: Stage, workers: int, folder: Path) -> Iterator[list[tuple[int, int]]]:
    """`workers` single-worker `crispml serve` processes, started together; yields (pid, port) of each."""
    crispml = str(Path(sys.executable).with_name("crispml"))
    with ExitStack() as stack:
        started = []
        for _ in range(workers):
            port = free_port()
            log = folder / f"crispml-{port}.log"
            command = [crispml, "serve", "--port", str(port), "--workers", "1", "--log-level", "warning"]
            process = spawn(command, stage.server_env, log)
            stack.callback(stop, process)
            started.append((process, port, log))
        for process, port, log in started:
            wait_ready(process, f"http://127.0.0.1:{port}/readyz", log, timeout_s=180)
        yield [(process.pid, port) for process, port, _log in started]


def _locust(stage: Stage, url: str, folder: Path) -> dict[str, Any]:
    """Locust headless against `url` for the configured time: its exit code, final figures, verdict and
    CPU seconds."""
    config = stage.config
    locust = str(Path(sys.executable).with_name("locust"))
    command = [locust, "-f", str(LOCUSTFILE), "--headless", "-u", str(config.users), "-r", str(config.spawn_rate),
               "-t", f"{config.seconds}s", "--host", url, "--csv", str(folder / "locust"),
               "--only-summary"]  # fmt: skip
    summary = folder / "summary.json"
    log = folder / "locust.log"
    # Locust is the only child this process reaps while it runs: the children's CPU time grows by its own.
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = spawn(command, {**stage.locust_env, "CRISPML_LOAD_SUMMARY": str(summary)}, log)
    try:
        code = process.wait(timeout=config.seconds + 180)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Locust did not stop within {config.seconds + 180} s:\n{log.read_text()[-3000:]}") from None
    finally:
        stop(process)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    if not summary.exists():
        raise RuntimeError(f"Locust exited {code} without its summary:\n{log.read_text()[-3000:]}")
    return {**json.loads(summary.read_text()), "exit_code": code, "cpu_s": round(cpu, 2),
            "log_tail": log.read_text()[-2000:] if code else ""}  # fmt: skip


def run_step(stage: Stage, workers: int) -> dict[str, Any]:
    """One step: `workers` servers behind HAProxy under Locust; its figures. A step that breaks leaves
    its logs (servers, HAProxy, Locust) in `<out>/workers-N-logs/`: the scratch folder goes."""
    folder = Path(tempfile.mkdtemp(prefix=f"workers-{workers}-", dir=stage.folder))
    try:
        return _step(stage, workers, folder)
    except Exception:
        shutil.copytree(folder, stage.config.out / f"workers-{workers}-logs", dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("*.csv", "*.json"))  # fmt: skip
        raise


def _step(stage: Stage, workers: int, folder: Path) -> dict[str, Any]:
    load_before = os.getloadavg()
    started = time.monotonic()
    with _servers(stage, workers, folder) as servers, balancer([port for _pid, port in servers], folder) as lb:
        ready_s = time.monotonic() - started
        before = {pid: _cpu_seconds(pid) for pid, _port in servers}
        balancer_before = _cpu_seconds(lb.pid)
        locust = _locust(stage, lb.url, folder)
        server_cpu = [round(_cpu_seconds(pid) - before[pid], 2) for pid, _port in servers]
        balancer_cpu = _cpu_seconds(lb.pid) - balancer_before
        # What HAProxy saw: requests sent to each worker (round robin), failed checks, times taken out.
        seen = {name: {"requests": int(row["stot"] or 0), "failed_checks": int(row["chkfail"] or 0),
                       "taken_out": int(row["chkdown"] or 0), "status": row["status"]}
                for name, row in lb.workers().items()}  # fmt: skip
    history = folder / "locust_stats_history.csv"
    if history.exists():
        stage.config.out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(history, stage.config.out / f"workers-{workers}-history.csv")
    total = locust["total"]
    return {
        "workers": workers,
        "seconds": stage.config.seconds,
        "users": stage.config.users,
        "start_up_s": round(ready_s, 1),
        "requests": locust["requests"],
        "total": total,
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_request": round(1000 * sum(server_cpu) / max(total["requests"], 1), 2),
        "balancer_cpu_s": round(balancer_cpu, 2),
        "balancer_workers": seen,
        "load_generator_cpu_s": locust["cpu_s"],
        "locust_exit_code": locust["exit_code"],
        "thresholds_crossed": locust["crossed"],
        "p95_bounds_ms": locust["p95_bounds_ms"],
        "load_avg_1_5_15": {"before": load_before, "after": os.getloadavg()},
        "wall_s": round(time.monotonic() - started, 1),
        **({"locust_log_tail": locust["log_tail"]} if locust["log_tail"] else {}),
    }


def run_all(stage: Stage) -> dict[str, Any]:
    """Every step in turn, then the report; returns the report."""
    steps = []
    for workers in stage.config.workers:
        print(f"load: {workers} worker(s), {stage.config.users} users, {stage.config.seconds} s ...", flush=True)
        steps.append(run_step(stage, workers))
        step = steps[-1]
        print(f"load: {workers} worker(s): {step['total']['requests']:,} requests, {step['total']['failures']} failed,"
              f" {step['total']['requests_per_s']:.1f} req/s; servers ready in {step['start_up_s']} s, step "
              f"{step['wall_s']} s", flush=True)  # fmt: skip
    return write_report(steps, stage.config)


def config_from(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m load.run", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", default=os.environ.get("CRISPML_LOAD_QUICK") == "1",
                        help="a smoke run: workers 1,2, 4 s each, 4 users, 10,000 rows")  # fmt: skip
    base = QUICK if "--quick" in (argv or sys.argv[1:]) or os.environ.get("CRISPML_LOAD_QUICK") == "1" else Config()
    env_workers = os.environ.get("CRISPML_LOAD_WORKERS")
    parser.add_argument("--workers", default=env_workers or ",".join(map(str, base.workers)),
                        help="worker counts in turn (default 1,2,3)")  # fmt: skip
    parser.add_argument("--seconds", type=int, default=_env_int("CRISPML_LOAD_SECONDS", base.seconds))
    parser.add_argument("--users", type=int, default=_env_int("CRISPML_LOAD_USERS", base.users))
    parser.add_argument("--spawn-rate", type=float,
                        default=float(os.environ.get("CRISPML_LOAD_SPAWN_RATE", base.spawn_rate)))  # fmt: skip
    parser.add_argument("--rows", type=int, default=_env_int("CRISPML_LOAD_ROWS", base.rows))
    parser.add_argument("--keys", action="store_true", default=os.environ.get("CRISPML_LOAD_KEYS") == "1")
    parser.add_argument("--out", type=Path, default=base.out)
    args = parser.parse_args(argv)
    workers = tuple(int(w) for w in args.workers.split(",") if w.strip())
    if not workers or min(workers) < 1:
        parser.error(f"--workers {args.workers!r}: name worker counts of at least 1, e.g. 1,2,3")
    if args.seconds < 1 or args.users < 2:
        parser.error("--seconds must be at least 1 and --users at least 2 (a trainer and a scorer)")
    return replace(base, workers=workers, seconds=args.seconds, users=args.users, spawn_rate=args.spawn_rate,
                   rows=args.rows, keys=args.keys, out=args.out)  # fmt: skip


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    config = config_from(argv)
    # A Ctrl-C, or make's or a CI's SIGTERM, unwinds the run: servers stopped, database dropped. SIGINT is set
    # too: a shell starts a background job with it ignored, and Python then leaves it so.
    previous = {signum: signal.signal(signum, _interrupt) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        started = time.monotonic()
        with prepared(config) as stage:
            print(f"load: data and champion ready in {time.monotonic() - started:.0f} s", flush=True)
            report = run_all(stage)
    except KeyboardInterrupt:
        print("load: interrupted; servers stopped, database dropped", file=sys.stderr)
        return 130
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"load: report in {config.out}/report.md; passed: {report['passed']}")
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
