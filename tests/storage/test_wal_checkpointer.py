"""SQLite's write-ahead log is checkpointed by a thread of its own after writes, which rests when idle."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import crispml
from crispml.local import Crispml
from crispml.storage import database as sqlite_setup
from crispml.storage.wal_checkpointer import WalCheckpointer
from tests.conftest import wait_for

THREAD = "crispml-wal-checkpoint"
WAL_SIZE_LIMIT_IN_TEST = 64 * 1024


@pytest.fixture(autouse=True)
def small_wal_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_setup, "WAL_SIZE_LIMIT", WAL_SIZE_LIMIT_IN_TEST)


def checkpoint_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == THREAD)


def write_rows(database: Path, rows: int) -> None:
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA wal_autocheckpoint=0")  # only the checkpointer copies the WAL back
        with connection:
            connection.executemany("INSERT INTO t (value) VALUES (?)", [(f"row {i}",) for i in range(rows)])
    finally:
        connection.close()


def test_writes_are_checkpointed_in_the_background_and_the_thread_rests_when_idle(tmp_path: Path) -> None:
    database = tmp_path / "wal.db"
    # Held open throughout: the last connection to close would checkpoint the WAL itself.
    keeper = sqlite3.connect(database)
    keeper.execute("PRAGMA journal_mode=WAL")
    keeper.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, value TEXT NOT NULL)")
    before = checkpoint_threads()
    checkpointer = WalCheckpointer(database, interval_s=0.01, idle_s=0.3)
    try:
        size_before = database.stat().st_size
        write_rows(database, 5_000)
        assert database.stat().st_size == size_before  # the rows are in the WAL only
        checkpointer.written()
        wait_for(lambda: checkpointer.checkpoints >= 1, timeout=30)
        assert database.stat().st_size > size_before  # the rows reached the database file itself
        wait_for(lambda: checkpoint_threads() == before, timeout=30)  # idle: the thread has ended

        write_rows(database, 10)
        checkpointer.written()  # and starts again with the next write
        wait_for(lambda: checkpointer.checkpoints >= 2, timeout=30)
        with sqlite3.connect(database) as connection:
            assert connection.execute("SELECT count(*) FROM t").fetchone() == (5_010,)
    finally:
        checkpointer.close()
        keeper.close()
    wait_for(lambda: checkpoint_threads() == before, timeout=30)
    checkpointer.written()  # closed: no thread starts
    assert checkpoint_threads() == before


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_wal_left_large_by_a_big_write_is_cut_back_when_the_log_starts_over(trained: Crispml, home: Path) -> None:
    wal = home / "crispml.db-wal"
    trained.score("fraud@champion", dataset="ccf", frames="1-12")
    assert wal.stat().st_size > WAL_SIZE_LIMIT_IN_TEST
    checker = sqlite3.connect(home / "crispml.db")

    def cut_back_by_a_write_after_a_full_checkpoint() -> bool:
        trained.store.group_commit.flush()  # perf rows written in the background come first
        busy, frames, copied = checker.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if busy == 0 and frames == copied:  # all backfilled (by the thread, or by this check)
            trained.label(records=[{"record_id": "after-the-checkpoint", "label": 1}])  # starts the log over
        return wal.stat().st_size <= WAL_SIZE_LIMIT_IN_TEST

    try:
        wait_for(cut_back_by_a_write_after_a_full_checkpoint, timeout=30)
    finally:
        checker.close()


def test_a_closed_store_has_closed_its_database_when_close_returns(tmp_path: Path) -> None:
    """The checkpointer's thread used to close its connection a moment after the store closed: the last
    connection, closing, still checkpointed and removed the WAL file under a copy of the folder taken
    meanwhile (a test copying a template store failed so)."""
    home = tmp_path / "home"
    with crispml.connect(home=home) as cml:
        cml.label(records=[{"record_id": "r-1", "label": 1}])  # a write: the checkpointer starts
        assert (home / "crispml.db-wal").exists()
    # (The count of checkpointer threads would say it too, but another test's store may start one.)
    assert not (home / "crispml.db-wal").exists()  # the last connection closed, and checkpointed
