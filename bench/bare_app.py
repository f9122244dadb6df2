"""The serving benchmark's floor: a bare FastAPI app that parses one record, scores it with a LightGBM
booster and commits one SQLite row per request.

Measured in the same run as crispml (uvloop, httptools), it is what one-record scoring with every score
persisted costs with nothing else around it: no validation beyond reading the record's numbers, no
ledger, no record ids, no idempotency. The database is in WAL mode with `synchronous=FULL` (a sync at
every commit), as crispml's SQLite store is; the booster scores on one thread from a preallocated
float64 row.

Run by `bench.serve` as `uvicorn bench.bare_app:app`, with BARE_APP_DB naming the database file,
BARE_APP_MODEL a LightGBM text model and BARE_APP_FEATURES its feature names, comma-separated.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any

import lightgbm
import numpy as np
from fastapi import FastAPI

app = FastAPI()
_database = sqlite3.connect(os.environ.get("BARE_APP_DB", ":memory:"), check_same_thread=False, isolation_level=None)
_database.execute("PRAGMA journal_mode=WAL")
_database.execute("PRAGMA synchronous=FULL")
_database.execute(
    "CREATE TABLE IF NOT EXISTS scores (id INTEGER PRIMARY KEY, record TEXT NOT NULL, score REAL NOT NULL)"
)
_booster = lightgbm.Booster(model_file=os.environ["BARE_APP_MODEL"])
_features = os.environ["BARE_APP_FEATURES"].split(",")
_lock = threading.Lock()


@app.post("/score")
def score(body: dict[str, Any]) -> dict[str, Any]:
    (record,) = body["records"]
    with _lock:  # one row buffer and one connection, shared by the worker threads
        row = _row
        for i, name in enumerate(_features):
            row[0, i] = float(record[name])
        positive = float(_booster.predict(row, num_threads=1)[0])
        _database.execute("BEGIN IMMEDIATE")
        _database.execute("INSERT INTO scores (record, score) VALUES (?, ?)", (json.dumps(record), positive))
        _database.execute("COMMIT")
    return {"score": positive}


_row = np.zeros((1, len(_features)), dtype=np.float64)
