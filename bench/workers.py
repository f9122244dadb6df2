"""Workers: time for 1 and for 2 `crispml worker` processes to drain a queue of small train jobs.

    python -m bench.workers [--jobs 8] [--repeats 3] [--trees 50]

On a fresh PostgreSQL database (see bench.common.postgres_database). The workers start
and train a warm-up job each before the clock runs: a worker is a long-lived process.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import crispml
from bench.common import median, postgres_database, scratch, synthetic_csv
from crispml.domain import SourceSpec
from crispml.local import Crispml
from crispml.services.jobs import JobService

CLI = str(Path(sys.executable).with_name("crispml"))


def _queue(cml: Crispml, count: int, trees: int) -> list[str]:
    api = JobService(cml.store, "bench", runner="workers")
    params = {"name": "fraud", "dataset": "ccf", "algorithm": "rf", "frames": "1-6", "weight": 10.0,
              "params": {"n_estimators": trees, "n_jobs": 1}, "seed": 42, "threshold": 0.5}  # fmt: skip
    ids = [api.submit("train", params, lambda _progress: {}).id for _ in range(count)]
    api.shutdown()
    return ids


def _drain(cml: Crispml, ids: list[str]) -> None:
    while True:
        with cml.store.jobs() as jobs:
            states = [jobs.get(job_id).status for job_id in ids]
        if all(state.finished for state in states):
            assert {state.value for state in states} == {"succeeded"}, states
            return
        time.sleep(0.05)


def run(jobs: int, repeats: int, trees: int) -> dict[str, Any]:
    seconds: dict[int, list[float]] = {1: [], 2: []}
    with (
        postgres_database() as url,
        scratch("workers-") as tmp,
        crispml.connect(home=tmp / "home", database_url=url, user="bench") as cml,
    ):
        cml.ingest(SourceSpec(path=str(synthetic_csv(24_000))), name="ccf")
        env = {
            **os.environ,
            "CRISPML_HOME": str(tmp / "home"),
            "CRISPML_DATABASE_URL": url,
            "CRISPML_USER": "bench",
        }
        for count in (1, 2):
            workers = [subprocess.Popen([CLI, "worker"], env=env, stderr=subprocess.DEVNULL) for _ in range(count)]
            try:
                _drain(cml, _queue(cml, 2 * count, trees))  # warm-up: imports, first model written
                for _ in range(repeats):
                    ids = _queue(cml, jobs, trees)
                    start = time.perf_counter()
                    _drain(cml, ids)
                    seconds[count].append(time.perf_counter() - start)
            finally:
                for worker in workers:
                    worker.send_signal(signal.SIGTERM)
                for worker in workers:
                    worker.wait(60)
    one, two = median(seconds[1]), median(seconds[2])
    return {"jobs": jobs, "trees": trees, "repeats": repeats, "cpus": os.cpu_count(),
            "one_worker_s": round(one, 2), "two_workers_s": round(two, 2), "speed_up": round(one / two, 2),
            "runs_s": {str(k): [round(v, 2) for v in runs] for k, runs in seconds.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trees", type=int, default=50)
    args = parser.parse_args()
    result = run(args.jobs, args.repeats, args.trees)
    print(json.dumps(result, indent=2))
    (Path(__file__).parent / "results" / "workers.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
