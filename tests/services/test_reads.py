"""Pure reads take neither SQLite's write lock nor the writers' lock file: they answer while a writer holds both."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from crispml.local import Crispml
from crispml.storage.write_queue import WriteQueue

READ_WITHIN_S = 20


@pytest.mark.parametrize("backend", ["sqlite"])
def test_reads_answer_while_another_writer_holds_every_write_lock(trained: Crispml, tmp_path: Path) -> None:
    record = trained.lifecycle.dataset_frame("ccf").drop(columns=["Class", "frame", "record_id"]).head(2)
    batch = trained.score("fraud@champion", records=record).batch
    trained.label(records=[{"record_id": "r-1", "label": 1}])
    trained.store.flush()
    reads: dict[str, Callable[[], Any]] = {
        "get_dataset": lambda: trained.lifecycle.get_dataset("ccf"),
        "datasets": trained.datasets,
        "get_model": lambda: trained.lifecycle.get_model("fraud@champion"),
        "models": trained.models,
        "lineage": lambda: trained.lineage("fraud@champion"),
        "batch": lambda: trained.scoring.batch(batch.id),
        "verify": lambda: trained.verify("fraud"),
        "readiness": trained.operations.readiness,
        "dataset_frame": lambda: trained.lifecycle.dataset_frame("ccf"),
    }
    database = trained.store.engine.url.database
    assert database is not None
    writer = sqlite3.connect(database, isolation_level=None)
    pool = ThreadPoolExecutor(1)  # a read that waits for a lock fails the test instead of hanging it
    try:
        with WriteQueue(Path(f"{database}-writers.lock")):  # as another process's write transaction holds it
            writer.execute("BEGIN IMMEDIATE")  # and SQLite's own write lock
            answers = {name: pool.submit(read).result(timeout=READ_WITHIN_S) for name, read in reads.items()}
            writer.execute("ROLLBACK")
    finally:
        writer.close()  # releases SQLite's lock, as leaving the block released the lock file
        pool.shutdown(wait=False)
    assert answers["batch"].batch.id == batch.id and answers["batch"].records.record_ids
    assert answers["get_model"].ref == "fraud/1" and [m.ref for m in answers["models"]] == ["fraud/1"]
    assert answers["lineage"][0].kind == "model" and answers["lineage"][-1].kind == "source"
    assert answers["readiness"]["database"] == {"ok": True}
