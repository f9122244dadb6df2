"""The serving benchmark's floor: a bare FastAPI app that commits one SQLite row per request.

The scoring issue quotes this app's throughput on its own machine (4.5k-8.7k requests/s); measured
here in the same run as crispml, it tells how fast this machine is, so crispml's figures can be read
against the issue's. It validates nothing, scores nothing and writes the body as text, in WAL mode
with a sync at every commit, as crispml's SQLite store does.

Run by `bench.serve` as `uvicorn bench.bare_app:app`, with BARE_APP_DB naming the database file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from typing import Any

from fastapi import FastAPI

app = FastAPI()
_database = sqlite3.connect(os.environ.get("BARE_APP_DB", ":memory:"), check_same_thread=False, isolation_level=None)
_database.execute("PRAGMA journal_mode=WAL")
_database.execute("PRAGMA synchronous=FULL")
_database.execute("CREATE TABLE IF NOT EXISTS requests (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
_lock = threading.Lock()


@app.post("/score")
def score(body: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        _database.execute("BEGIN IMMEDIATE")
        _database.execute("INSERT INTO requests (body) VALUES (?)", (json.dumps(body),))
        _database.execute("COMMIT")
    return {"stored": True}
