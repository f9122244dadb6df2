"""crispml under load (Locust): the reference's loops, with thresholds that fail the run.

- `Trainer` (one user): trains on 5 % of the data over and over: ingests a fresh 5 % sample of the data
  file in the server's data folder (a new seed each time), prepares it and trains a forest on it.
- `OneRecordScorer` and `BatchScorer`: score one record, or 1,000 records, per request against the
  champion; their weights (8 to 2 by default) make scoring the bulk of the traffic.

Thresholds, checked when Locust quits: some scoring answered, no failed request, and each request type's
p95 under its bound.
Crossing one makes Locust exit 1 (`environment.process_exit_code`) and names it on stderr. With
CRISPML_LOAD_SUMMARY set, the final figures of each request type and the verdict go to that JSON file.

    locust -f load/locustfile.py --headless -u 10 -r 5 -t 60s --host http://127.0.0.1:8000

The server needs a champion of CRISPML_LOAD_MODEL and the data file CRISPML_LOAD_DATA in its data folder
(`python -m load.run` prepares both). A server that requires keys gets CRISPML_API_KEY as a Bearer token,
or CRISPML_LOAD_TRAIN_KEY for the trainer if set (ingest and train need a steward's and a scientist's
rights; scoring needs a scorer's).

Environment (defaults in brackets): CRISPML_LOAD_MODEL [fraud], CRISPML_LOAD_TRAIN_MODEL [fraud-load],
CRISPML_LOAD_DATA [creditcard.parquet], CRISPML_LOAD_TRAIN_PERCENT [0.05], CRISPML_LOAD_TRAIN_PARAMS [{}] (the
forest's parameters, JSON), CRISPML_LOAD_BATCH_ROWS [1000],
CRISPML_LOAD_SCORE_WEIGHTS [8,2] (one-record and batch scorers), and the p95 bounds in milliseconds:
CRISPML_LOAD_P95_SCORE_ONE_MS [1000], CRISPML_LOAD_P95_SCORE_BATCH_MS [5000], CRISPML_LOAD_P95_TRAIN_MS
[120000] (each step of the training loop: ingest, prepare, train).
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any

import orjson
from locust import FastHttpUser, constant, events, task
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import RequestStats, StatsEntry

from crispml.steps.synthetic import synthesize

MODEL = os.environ.get("CRISPML_LOAD_MODEL", "fraud")
TRAIN_MODEL = os.environ.get("CRISPML_LOAD_TRAIN_MODEL", "fraud-load")
DATA = os.environ.get("CRISPML_LOAD_DATA", "creditcard.parquet")
TRAIN_PERCENT = float(os.environ.get("CRISPML_LOAD_TRAIN_PERCENT", "0.05"))
BATCH_ROWS = int(os.environ.get("CRISPML_LOAD_BATCH_ROWS", "1000"))
TRAIN_PARAMS: dict[str, Any] = json.loads(os.environ.get("CRISPML_LOAD_TRAIN_PARAMS") or "{}")
ONE_WEIGHT, BATCH_WEIGHT = (int(w) for w in os.environ.get("CRISPML_LOAD_SCORE_WEIGHTS", "8,2").split(","))

SCORE_ONE = "score 1 record"
SCORE_BATCH = f"score {BATCH_ROWS} records"  # named as in the k6 script
INGEST = f"ingest {TRAIN_PERCENT:.0%}"
PREPARE = "prepare"
TRAIN = "train"
JOB_POLL = "job (poll)"
SCORING = (SCORE_ONE, SCORE_BATCH)


def _bound(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


P95_BOUNDS_MS = {
    SCORE_ONE: _bound("CRISPML_LOAD_P95_SCORE_ONE_MS", 1000),
    SCORE_BATCH: _bound("CRISPML_LOAD_P95_SCORE_BATCH_MS", 5000),
    **dict.fromkeys((INGEST, PREPARE, TRAIN), _bound("CRISPML_LOAD_P95_TRAIN_MS", 120_000)),
}
"""p95 bound of each request type, in milliseconds. The defaults hold on a two-core machine that the
servers share with Locust, the trainer and other work; they catch a server that stalls, not a slow one.
Tighten them on a machine of the servers' own."""

_log = logging.getLogger("crispml.load")


def _headers(key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    return {**headers, "Authorization": f"Bearer {key}"} if key else headers


SCORE_HEADERS = _headers(os.environ.get("CRISPML_API_KEY"))
TRAIN_HEADERS = _headers(os.environ.get("CRISPML_LOAD_TRAIN_KEY") or os.environ.get("CRISPML_API_KEY"))


def _records(rows: int) -> list[dict[str, float]]:
    """Generated records with the reference's features (Time, V1..V28, Amount), rounded to keep bodies small."""
    frame = synthesize(max(rows, 12), seed=20_240_601).drop(columns=["Class"]).round(6)
    return list(frame.to_dict("records"))[:rows]


RECORDS = _records(max(BATCH_ROWS, 1))
# Bodies are serialized once: the load generator shares the machine, its CPU is better left to the server.
ONE_BODIES = [orjson.dumps({"records": [record]}).decode() for record in RECORDS]
BATCH_BODY = orjson.dumps({"records": RECORDS}).decode()
SCORE_PATH = f"/api/v1/models/{MODEL}/score"


class OneRecordScorer(FastHttpUser):
    """Scores one record per request, back to back."""

    weight = ONE_WEIGHT
    wait_time = constant(0)

    @task
    def score_one(self) -> None:
        body = random.choice(ONE_BODIES)
        with self.client.post(SCORE_PATH, data=body, headers=SCORE_HEADERS, name=SCORE_ONE, catch_response=True) as r:
            _expect_scores(r, 1)


class BatchScorer(FastHttpUser):
    """Scores 1,000 records per request, back to back."""

    weight = BATCH_WEIGHT
    wait_time = constant(0)

    @task
    def score_batch(self) -> None:
        with self.client.post(SCORE_PATH, data=BATCH_BODY, headers=SCORE_HEADERS, name=SCORE_BATCH,
                              catch_response=True) as r:  # fmt: skip
            _expect_scores(r, len(RECORDS))


def _expect_scores(response: Any, rows: int) -> None:
    if response.status_code != 200:
        response.failure(f"HTTP {response.status_code}: {response.text[:200]}")
    elif response.json().get("rows") != rows:
        response.failure(f"expected {rows} scores, got {response.text[:200]}")


class Trainer(FastHttpUser):
    """Trains on a fresh 5 % sample over and over: ingest, prepare, train (ingest and train run as jobs)."""

    fixed_count = 1
    wait_time = constant(0)
    network_timeout = 900.0

    @task
    def train_on_a_sample(self) -> None:
        body = {"source": {"path": DATA}, "name": "load-sample", "percent_data": TRAIN_PERCENT,
                "seed": random.randrange(2**31)}  # fmt: skip
        sample = self._job(INGEST, "/api/v1/datasets", body)
        if sample is None:
            return
        prepared = self._call(PREPARE, f"/api/v1/datasets/{sample['id']}/prepare", {"missing": "median"}, 201)
        if prepared is None:
            return
        body = {"dataset": prepared["id"], "algorithm": "rf", "frames": "1-6", "weight": 10, "params": TRAIN_PARAMS}
        self._job(TRAIN, f"/api/v1/models/{TRAIN_MODEL}/versions", body)

    def _call(self, name: str, path: str, body: dict[str, Any], status: int) -> dict[str, Any] | None:
        with self.client.post(path, data=orjson.dumps(body).decode(), headers=TRAIN_HEADERS, name=name,
                              catch_response=True) as r:  # fmt: skip
            if r.status_code != status:
                r.failure(f"HTTP {r.status_code}: {r.text[:300]}")
                return None
            answer: dict[str, Any] = r.json()
            return answer

    def _job(self, name: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """Submit a job and wait for it (the server holds a wait for at most a minute; then poll on)."""
        with self.client.post(f"{path}?wait=true&timeout=600", data=orjson.dumps(body).decode(), headers=TRAIN_HEADERS,
                              name=name, catch_response=True) as r:  # fmt: skip
            if r.status_code not in (200, 202):
                r.failure(f"HTTP {r.status_code}: {r.text[:300]}")
                return None
            job: dict[str, Any] = r.json()
            while job["status"] in ("queued", "running"):
                poll = self.client.get(f"/api/v1/jobs/{job['id']}?wait=true&timeout=60", headers=TRAIN_HEADERS,
                                       name=JOB_POLL)  # fmt: skip
                job = poll.json()
            if job["status"] != "succeeded":
                r.failure(f"job {job['id']} {job['status']}: {job.get('error')}")
                return None
            result: dict[str, Any] = job["result"]
            return result


def thresholds_crossed(stats: RequestStats, bounds: dict[str, float]) -> list[str]:
    """What the run broke: no scoring answered at all, any failed request, and any request type whose p95
    exceeds its bound."""
    crossed = []
    if not any(entry.num_requests for (name, _method), entry in stats.entries.items() if name in SCORING):
        crossed.append("no scoring request was answered")  # a server that hangs fails no request
    if stats.total.num_failures:
        crossed.append(f"{stats.total.num_failures} of {stats.total.num_requests} requests failed (bound: none)")
    for (name, _method), entry in sorted(stats.entries.items()):
        bound = bounds.get(name)
        if bound is None or not entry.num_requests:
            continue
        p95 = entry.get_response_time_percentile(0.95)
        if p95 > bound:
            crossed.append(f"{name}: p95 {p95:g} ms over its bound of {bound:g} ms")
    return crossed


def figures(entry: StatsEntry) -> dict[str, Any]:
    """One request type's final figures (Locust's CSV is rewritten once a second, so may miss the last)."""
    percentile = entry.get_response_time_percentile if entry.num_requests else lambda _p: None
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "requests_per_s": round(entry.total_rps, 2),
        "avg_ms": round(entry.avg_response_time, 2),
        "p50_ms": percentile(0.5),
        "p95_ms": percentile(0.95),
        "p99_ms": percentile(0.99),
        "max_ms": entry.max_response_time if entry.num_requests else None,
    }


def _check_thresholds(environment: Environment, **_kwargs: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.stats is None:
        return  # the master (or the single local runner) judges the whole run
    stats = environment.stats
    crossed = thresholds_crossed(stats, P95_BOUNDS_MS)
    for line in crossed:
        _log.error("threshold crossed: %s", line)
    summary = os.environ.get("CRISPML_LOAD_SUMMARY")
    if summary:
        found = {name: figures(entry) for (name, _method), entry in sorted(stats.entries.items())}
        answer = {"requests": found, "total": figures(stats.total), "crossed": crossed, "p95_bounds_ms": P95_BOUNDS_MS}
        Path(summary).write_text(json.dumps(answer, indent=2) + "\n")
    if crossed:
        environment.process_exit_code = 1


events.quitting.add_listener(_check_thresholds)  # type: ignore[no-untyped-call]  # Locust's hooks are untyped
