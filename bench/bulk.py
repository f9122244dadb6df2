"""Benchmark 6: columnar bulk scoring. 10,000-row Arrow-stream requests to one crispml worker on SQLite
(every score persisted), beside an in-process baseline of the same work in the same run: the ONNX twin
of the same model predicting the same rows, plus the bulk insert of their scores into a scratch SQLite
ledger (WAL, synchronous=FULL, one transaction, crispml's own multi-row VALUES insert).

The goal: Arrow rows/s at least `GOAL_OVER_BASELINE` times the baseline's rows/s. Requests are sent one
after another (no overlap), each followed by one baseline run, so both see the same machine; each figure
is one request's end-to-end time: the Arrow body is encoded once beforehand, the answer (every score) is
read and decoded as `crispml.client` decodes it: JSON by orjson, and the Arrow-stream answer a request
that accepts one gets (`Client.score(table=..., scores_as="table")`). The goal is held to the latter,
the table's own path; the JSON answer's figure is reported beside it.
"""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd

import crispml
from bench.common import goal, median, ratio, scratch, synthetic_csv
from bench.servers import crispml_server
from crispml import score_stream
from crispml.client.wire import ARROW_STREAM, arrow_stream
from crispml.domain import FRAME, RECORD_ID, SourceSpec
from crispml.steps import fast_path, record_ids
from crispml.steps.pipeline import FeaturePipeline
from crispml.storage.bulk_insert import sqlite_insert_values

REQUEST_ROWS = 10_000
DATA_ROWS = 60_000
"""Rows of synthetic data the model is trained on (frames 1-6) and the requests drawn from (7-12)."""
REPEATS = int(os.environ.get("CRISPML_BENCH_REPEATS", "15"))
GOAL_OVER_BASELINE = 0.6
_INSERT = "INSERT INTO scores (batch_id, record_id, frame, score, decision) VALUES"
_LEDGER = """CREATE TABLE scores (id INTEGER PRIMARY KEY, batch_id TEXT NOT NULL, record_id TEXT NOT NULL,
                                   frame INTEGER, score REAL NOT NULL, decision INTEGER NOT NULL)"""


def _champion(home: Path, csv: Path) -> tuple[Any, pd.DataFrame, FeaturePipeline, float]:
    """Train and persist an rf champion; its estimator, REQUEST_ROWS later raw rows, pipeline, threshold."""
    with crispml.connect(home=home) as cml:
        raw = cml.ingest(SourceSpec(path=str(csv)), name="ccf", slices=12)
        prepared = cml.prepare(raw.id)
        curated = cml.curate(prepared.id, algorithm="rf", frames="1-6")
        model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud")
        cml.persist(model.ref, alias="champion")
        estimator = cml.model_cache.estimator(model.artifact_sha256, model.artifact_format)
        frame = cml.lifecycle.dataset_frame(raw.id)
    pipeline = FeaturePipeline(model.pipeline, model.features)
    later = frame[frame[FRAME] >= 7].drop(columns=[RECORD_ID, FRAME, "Class"]).reset_index(drop=True)
    if len(later) < REQUEST_ROWS:
        raise RuntimeError(f"{len(later)} later rows; {REQUEST_ROWS} are needed")
    return estimator, later.iloc[:REQUEST_ROWS][pipeline.input_columns], pipeline, model.threshold


class _Baseline:
    """The in-process floor: the ONNX twin predicts the rows, then their scores are inserted and committed
    into a scratch SQLite ledger. Ids are worked out beforehand (the baseline does no id work)."""

    def __init__(self, estimator: Any, rows: pd.DataFrame, pipeline: FeaturePipeline, threshold: float,
                 tmp: Path) -> None:  # fmt: skip
        self.twin = fast_path.compile_onnx(estimator)
        raw = rows.to_numpy(dtype=np.float64)
        self.features = pipeline.transform_inputs(raw)
        self.ids = record_ids.matrix_ids(raw)
        self.threshold = threshold
        self.ledger = sqlite3.connect(tmp / "baseline.db", isolation_level=None)
        self.ledger.execute("PRAGMA journal_mode=WAL")
        self.ledger.execute("PRAGMA synchronous=FULL")
        self.ledger.execute(_LEDGER)
        self.runs = 0

    def __call__(self) -> float:
        started = time.perf_counter()
        score = self.twin.positive(self.features)
        decisions = (score >= self.threshold).astype(np.int64).tolist()
        batch = f"sb-{self.runs}"
        values = [(batch, i, None, s, d) for i, s, d in zip(self.ids, score.tolist(), decisions, strict=True)]
        cursor = self.ledger.cursor()
        cursor.execute("BEGIN")
        sqlite_insert_values(cursor, _INSERT, 5, values)
        cursor.execute("COMMIT")
        self.runs += 1
        return time.perf_counter() - started

    def persisted(self) -> int:
        return int(self.ledger.execute("SELECT count(*) FROM scores").fetchone()[0])


def _interleaved(
    home: Path, rows: pd.DataFrame, baseline: _Baseline, tmp: Path
) -> tuple[dict[str, list[float]], list[float], int]:
    """Seconds per 10,000-row Arrow request to one worker on SQLite, answered as JSON and as an Arrow
    stream, and per baseline run, taken in turns so that all three see the same machine; and the
    crispml ledger's rows after. Each answer is decoded as `crispml.client` decodes it."""
    body = arrow_stream(rows)
    timings: dict[str, list[float]] = {"arrow_rest": [], "arrow_rest_table_answer": []}
    baseline_s = []
    with crispml_server(home, None, 1, tmp) as url, httpx.Client(base_url=url, timeout=300) as http:
        asks = {"arrow_rest": {"content-type": ARROW_STREAM},
                "arrow_rest_table_answer": {"content-type": ARROW_STREAM, "accept": ARROW_STREAM}}  # fmt: skip
        for headers in asks.values():  # warm-up
            http.post("/api/v1/models/fraud/score", content=body, headers=headers).raise_for_status()
        baseline()
        for _ in range(REPEATS):
            for how, headers in asks.items():
                started = time.perf_counter()
                response = http.post("/api/v1/models/fraud/score", content=body, headers=headers)
                response.raise_for_status()
                if how == "arrow_rest":
                    answer = orjson.loads(response.content)  # as crispml.client decodes an answer
                else:
                    answer = score_stream.decode(response.content)  # as Client.score(scores_as="table")
                timings[how].append(time.perf_counter() - started)
                if answer["rows"] != REQUEST_ROWS or len(answer["scores"]) != REQUEST_ROWS:
                    raise RuntimeError(f"answered {answer['rows']} rows")
            baseline_s.append(baseline())
    with crispml.connect(home=home) as cml, cml.store.reading() as uow:
        persisted = uow.ledger.count()
    return timings, baseline_s, persisted


def run(rows: int) -> dict[str, Any]:
    data_rows = min(rows, DATA_ROWS)
    csv = synthetic_csv(data_rows)
    with scratch("bulk-") as tmp:
        home = tmp / "home"
        estimator, request, pipeline, threshold = _champion(home, csv)
        baseline = _Baseline(estimator, request, pipeline, threshold, tmp)
        timings, baseline_s, persisted = _interleaved(home, request, baseline, tmp)
        # The warm-up requests and run are persisted too; each crispml repeat is two requests.
        if persisted != (2 * REPEATS + 2) * REQUEST_ROWS or baseline.persisted() != (REPEATS + 1) * REQUEST_ROWS:
            raise RuntimeError(f"{persisted} and {baseline.persisted()} scores persisted for {REPEATS + 1} runs")
    medians = {how: median(seconds) for how, seconds in timings.items()}
    floor = median(baseline_s)
    rows_per_s = {how: round(REQUEST_ROWS / seconds) for how, seconds in medians.items()}
    rows_per_s["baseline"] = round(REQUEST_ROWS / floor)
    over = {how: round(rows_per_s[how] / rows_per_s["baseline"], 3) for how in timings}
    return {
        "name": "bulk",
        "rows": rows,
        "data_rows": data_rows,
        "request_rows": REQUEST_ROWS,
        "call": "POST /api/v1/models/fraud/score, Content-Type application/vnd.apache.arrow.stream, 10,000 rows, "
        "one worker, SQLite; requests one after another (each repeat: the JSON answer, the Arrow-stream answer "
        "(Accept), then one baseline run), answers decoded as crispml.client decodes them",
        "baseline": "in process: ONNX twin predict of the same rows + multi-row INSERT of their scores into a "
        "scratch SQLite ledger (WAL, synchronous=FULL), one commit",
        "persisted_rows": persisted,
        "timings_s": {**timings, "baseline": baseline_s},
        "medians_s": {**medians, "baseline": floor},
        "rows_per_s": rows_per_s,
        "ratios": {
            "arrow_rest_over_baseline_time": ratio(medians["arrow_rest"], floor),
            "arrow_rows_per_s_over_baseline": over["arrow_rest"],
            "table_answer_rows_per_s_over_baseline": over["arrow_rest_table_answer"],
        },
        # The table's own path (Client.score(table=..., scores_as="table")) is held to the goal; the JSON
        # answer's figure stands beside it.
        "goals": [
            goal(
                "Arrow rows/s (Arrow answer) over the baseline's",
                over["arrow_rest_table_answer"],
                GOAL_OVER_BASELINE,
                at_least=True,
            )
        ],
        "headline": [  # the goal's row first: `bench.run` prints a lone goal beside the first row
            {
                "benchmark": "bulk arrow 10k, Arrow answer",
                "crispml_s": medians["arrow_rest_table_answer"],
                "bare_s": floor,
                "rows_per_s": rows_per_s["arrow_rest_table_answer"],
                "ratio": ratio(medians["arrow_rest_table_answer"], floor),
            },
            {
                "benchmark": "bulk arrow 10k, JSON answer",
                "crispml_s": medians["arrow_rest"],
                "bare_s": floor,
                "rows_per_s": rows_per_s["arrow_rest"],
                "ratio": ratio(medians["arrow_rest"], floor),
            },
        ],
    }
