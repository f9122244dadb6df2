"""Benchmark 5: scoring over HTTP, crispml (every score persisted) against `mlflow models serve` of the
same fitted model (nothing persisted), both driven by wrk from Debian's packages on this machine.

- one-record requests at concurrency 1, 8 and 32, for every algorithm crispml offers (one model each,
  trained on the same data): requests/s, p50 and p99 latency, crispml beside MLflow serving the same
  fitted model on one thread (a fair peer: `n_jobs=1`, one LightGBM/OpenMP thread);
- 1,000-record requests: rows/s end to end, crispml on SQLite and on PostgreSQL, and MLflow;
- crispml on PostgreSQL with `--workers 2` against one worker (scaling ratio), and on SQLite;
- the floor: a bare FastAPI app (uvloop, httptools) that parses the record, scores it with the LightGBM
  booster and commits one SQLite row per request (`bench.bare_app`); every algorithm is held to it.

Each crispml run ends with a check that the ledger holds at least one batch per answered request.

Environment: CRISPML_BENCH_ALGORITHMS (comma-separated, default every algorithm), CRISPML_BENCH_SECONDS
(per figure, default 10), CRISPML_BENCH_REPEATS (default 3) and CRISPML_BENCH_KEYS (1: crispml requires API
keys and wrk sends a scorer's, to measure authentication's cost); a smoke run of the bench itself is e.g.
`CRISPML_BENCH_ALGORITHMS=lgbm CRISPML_BENCH_SECONDS=2 CRISPML_BENCH_REPEATS=1
python -m bench.run --only serve --rows 20000 --out /tmp/smoke` (never into bench/results/).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, func, select

import crispml
from bench.common import goal, postgres_database, ratio, scratch, synthetic_csv
from bench.load import REPEATS, SECONDS, WARM_UP_SECONDS, measure
from bench.servers import bare_server, crispml_server, mlflow_server, save_mlflow_model
from crispml.domain import FRAME, RECORD_ID, SourceSpec
from crispml.steps.algorithms import ALGORITHMS, BoosterModel
from crispml.storage import schema

CONCURRENCY = (1, 8, 32)
BATCH_ROWS = 1_000
BATCH_CONCURRENCY = 4
SERVED = tuple(a.strip() for a in os.environ.get("CRISPML_BENCH_ALGORITHMS", ",".join(ALGORITHMS)).split(",") if a)
"""The algorithms whose one-record scoring is measured; rf (batch, workers, PostgreSQL) and lgbm (the
bare app's booster) are trained in any case."""
GOAL_THROUGHPUT_OVER_MLFLOW = 20.0
GOAL_THROUGHPUT_OVER_BARE = 0.8
GOAL_P99_MS = 10.0
GOAL_BATCH_ROWS_PER_S = 150_000


# -- the scenario ---------------------------------------------------------------------------------
def model_name(algorithm: str) -> str:
    """The forest keeps the name the other figures have always used."""
    return "fraud" if algorithm == "rf" else f"fraud-{algorithm}"


def _champions(
    home: Path, database_url: str | None, csv: Path, algorithms: tuple[str, ...]
) -> tuple[dict[str, tuple[Any, list[str]]], list[dict[str, Any]]]:
    """Train and persist one champion per algorithm; returns each one's estimator and features, and raw
    later records."""
    models: dict[str, tuple[Any, list[str]]] = {}
    with crispml.connect(home=home, database_url=database_url) as cml:
        raw = cml.ingest(SourceSpec(path=str(csv)), name="ccf", slices=12)
        prepared = cml.prepare(raw.id)
        for algorithm in algorithms:
            curated = cml.curate(prepared.id, algorithm=algorithm, frames="1-6")
            model = cml.train(curated.id, algorithm=algorithm, frames="1-6", weight=10, name=model_name(algorithm))
            cml.persist(model.ref, alias="champion")
            models[algorithm] = (
                cml.model_cache.estimator(model.artifact_sha256, model.artifact_format),
                list(model.features),
            )
        frame = cml.lifecycle.dataset_frame(raw.id)
    later = frame[frame[FRAME] >= 7].drop(columns=[RECORD_ID, FRAME, "Class"])
    picked = later.iloc[np.linspace(0, len(later) - 1, BATCH_ROWS).astype(int)]
    return models, picked.to_dict("records")


def _ledger_batches(home: Path, database_url: str | None) -> int:
    engine = create_engine(database_url or f"sqlite:///{home / 'crispml.db'}")
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(schema.score_batches)) or 0)
    finally:
        engine.dispose()


def _crispml_runs(
    home: Path,
    database_url: str | None,
    records: list[dict[str, Any]],
    tmp: Path,
    *,
    workers: int,
    levels: tuple[int, ...],
    model: str = "fraud",
    batch: bool = True,
) -> dict[str, Any]:
    one = {"records": records[:1]}
    results: dict[str, Any] = {}
    before = _ledger_batches(home, database_url)
    with crispml_server(home, database_url, workers, tmp) as url:
        score = f"{url}/api/v1/models/{model}/score"
        for concurrency in levels:
            results[f"one_record_c{concurrency}"] = measure(score, one, concurrency, tmp)
        if batch:
            results["batch"] = measure(score, {"records": records}, BATCH_CONCURRENCY, tmp)
    answered = sum(r["requests"] for r in results.values())
    persisted = _ledger_batches(home, database_url) - before
    # wrk counts answers within its window only; warm-up requests persisted too, hence >=.
    if persisted < answered:
        raise RuntimeError(f"{answered} requests answered but only {persisted} batches persisted")
    if batch:
        results["batch"]["rows_per_s"] = round(results["batch"]["requests_per_s"] * BATCH_ROWS)
    results["batches_persisted"] = persisted
    return results


def _mlflow_runs(
    estimator: Any, features: list[str], records: list[dict[str, Any]], tmp: Path, *, batch: bool = True
) -> dict[str, Any]:
    model_dir = tmp / f"mlflow-model-{type(estimator).__name__}"
    save_mlflow_model(estimator, features, model_dir)

    def split(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"dataframe_split": {"columns": features, "data": [[row[c] for c in features] for row in rows]}}

    results: dict[str, Any] = {}
    with mlflow_server(model_dir, tmp) as url:
        for concurrency in CONCURRENCY:
            results[f"one_record_c{concurrency}"] = measure(f"{url}/invocations", split(records[:1]), concurrency, tmp)
        if batch:
            results["batch"] = measure(f"{url}/invocations", split(records), BATCH_CONCURRENCY, tmp)
            results["batch"]["rows_per_s"] = round(results["batch"]["requests_per_s"] * BATCH_ROWS)
    return results


def _bare_runs(booster: BoosterModel, features: list[str], records: list[dict[str, Any]], tmp: Path) -> dict[str, Any]:
    with bare_server(booster, features, tmp) as url:
        return {f"one_record_c{c}": measure(f"{url}/score", {"records": records[:1]}, c, tmp) for c in CONCURRENCY}


def _by_algorithm(
    models: dict[str, tuple[Any, list[str]]],
    records: list[dict[str, Any]],
    tmp: Path,
    rf: tuple[dict[str, Any], dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    """One-record figures of crispml and MLflow for each served algorithm (the forest's are `rf`'s)."""
    found: dict[str, dict[str, Any]] = {}
    for algorithm in SERVED:
        if algorithm == "rf":
            crispml_figures, mlflow_figures = rf
        else:
            crispml_figures = _crispml_runs(
                tmp / "sqlite",
                None,
                records,
                tmp,
                workers=1,
                levels=CONCURRENCY,
                model=model_name(algorithm),
                batch=False,
            )
            mlflow_figures = _mlflow_runs(*models[algorithm], records, tmp, batch=False)
        found[algorithm] = {
            "crispml": {k: v for k, v in crispml_figures.items() if k.startswith("one_record")},
            "mlflow": {k: v for k, v in mlflow_figures.items() if k.startswith("one_record")},
        }
    return found


def _goals(by_algorithm: dict[str, dict[str, Any]], bare: dict[str, Any]) -> list[dict[str, Any]]:
    goals = []
    for algorithm, figures in by_algorithm.items():
        c8 = figures["crispml"]["one_record_c8"]
        over_bare = ratio(c8["requests_per_s"], bare["one_record_c8"]["requests_per_s"])
        over_mlflow = ratio(c8["requests_per_s"], figures["mlflow"]["one_record_c8"]["requests_per_s"])
        goals += [
            goal(
                f"{algorithm}: crispml/bare app one-record req/s at c=8",
                over_bare,
                GOAL_THROUGHPUT_OVER_BARE,
                at_least=True,
            ),
            goal(f"{algorithm}: crispml one-record p99 ms at c=8", c8["p99_ms"], GOAL_P99_MS, strict=True),
            goal(
                f"{algorithm}: crispml/mlflow one-record req/s at c=8",
                over_mlflow,
                GOAL_THROUGHPUT_OVER_MLFLOW,
                at_least=True,
            ),
        ]
    return goals


def run(rows: int) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: run scripts/ensure-bench-tools (make bench does)")
    unknown = sorted(set(SERVED) - set(ALGORITHMS))
    if unknown:
        raise RuntimeError(f"CRISPML_BENCH_ALGORITHMS names {unknown[0]!r}; choose from {', '.join(ALGORITHMS)}")
    csv = synthetic_csv(rows)
    trained = tuple(a for a in ALGORITHMS if a in {"rf", "lgbm", *SERVED})
    with scratch("serve-") as tmp:
        models, records = _champions(tmp / "sqlite", None, csv, trained)
        sqlite = _crispml_runs(tmp / "sqlite", None, records, tmp, workers=1, levels=CONCURRENCY)
        sqlite_2 = _crispml_runs(tmp / "sqlite", None, records, tmp, workers=2, levels=(8,))
        mlflow = _mlflow_runs(*models["rf"], records, tmp)
        by_algorithm = _by_algorithm(models, records, tmp, (sqlite, mlflow))
        bare = _bare_runs(*models["lgbm"], records, tmp)
        with postgres_database() as url:
            _champions(tmp / "pg", url, csv, ("rf",))
            postgres = {
                f"workers_{n}": _crispml_runs(tmp / "pg", url, records, tmp, workers=n, levels=(8,)) for n in (1, 2)
            }
    c8 = sqlite["one_record_c8"]
    scaling = ratio(postgres["workers_2"]["batch"]["rows_per_s"], postgres["workers_1"]["batch"]["rows_per_s"])
    return {
        "name": "serve",
        "rows": rows,
        "load": (
            f"wrk -t1, median of {REPEATS} runs of {SECONDS} s per figure after a {WARM_UP_SECONDS} s warm-up; "
            "servers and wrk on this machine"
        ),
        "crispml": "POST /api/v1/models/<model>/score {records: [...]}, every score committed before the answer",
        "mlflow": (
            "mlflow models serve --env-manager local of the same fitted model on one thread (n_jobs=1, "
            "num_threads=1, OMP_NUM_THREADS=1), POST /invocations dataframe_split, nothing persisted"
        ),
        "bare_app": (
            "bench.bare_app: FastAPI (uvloop, httptools), parses the record, scores it with the LightGBM booster "
            "on one thread, commits one SQLite row per request (WAL, synchronous=FULL)"
        ),
        "models": {algorithm: model_name(algorithm) for algorithm in trained},
        "crispml_sqlite": sqlite,
        "crispml_sqlite_workers_2": sqlite_2,
        "mlflow_serve": mlflow,
        "one_record_by_algorithm": by_algorithm,
        "bare_fastapi_sqlite": bare,
        "crispml_postgresql": postgres,
        "ratios": {
            "one_record_c8_over_mlflow": ratio(c8["requests_per_s"], mlflow["one_record_c8"]["requests_per_s"]),
            "one_record_c8_over_bare_fastapi_sqlite": ratio(
                c8["requests_per_s"], bare["one_record_c8"]["requests_per_s"]
            ),
            "postgresql_workers_2_over_1": scaling,
        },
        "goals": [
            *_goals(by_algorithm, bare),
            goal(
                "crispml 1,000-record rows/s, SQLite",
                sqlite["batch"]["rows_per_s"],
                GOAL_BATCH_ROWS_PER_S,
                at_least=True,
            ),
            goal(
                "crispml 1,000-record rows/s, SQLite, --workers 2",
                sqlite_2["batch"]["rows_per_s"],
                GOAL_BATCH_ROWS_PER_S,
                at_least=True,
            ),
        ],
        "headline": [
            *(
                {
                    "benchmark": f"one record, {algorithm}, c={c}",
                    "crispml_req_s": figures["crispml"][f"one_record_c{c}"]["requests_per_s"],
                    "crispml_p99_ms": figures["crispml"][f"one_record_c{c}"]["p99_ms"],
                    "mlflow_req_s": figures["mlflow"][f"one_record_c{c}"]["requests_per_s"],
                    "mlflow_p99_ms": figures["mlflow"][f"one_record_c{c}"]["p99_ms"],
                    "bare_fastapi_sqlite_req_s": bare[f"one_record_c{c}"]["requests_per_s"],
                    "bare_fastapi_sqlite_p99_ms": bare[f"one_record_c{c}"]["p99_ms"],
                }
                for algorithm, figures in by_algorithm.items()
                for c in CONCURRENCY
            ),
            {
                "benchmark": "SQLite, --workers 2",
                "one_record_c8_req_s": sqlite_2["one_record_c8"]["requests_per_s"],
                "one_record_c8_p99_ms": sqlite_2["one_record_c8"]["p99_ms"],
                "batch_rows_s": sqlite_2["batch"]["rows_per_s"],
            },
            {
                "benchmark": "1,000 records",
                "crispml_sqlite_rows_s": sqlite["batch"]["rows_per_s"],
                "crispml_postgresql_rows_s": postgres["workers_1"]["batch"]["rows_per_s"],
                "crispml_postgresql_2_workers_rows_s": postgres["workers_2"]["batch"]["rows_per_s"],
                "mlflow_rows_s": mlflow["batch"]["rows_per_s"],
            },
        ],
    }
