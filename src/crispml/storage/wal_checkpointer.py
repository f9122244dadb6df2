"""A SQLite database's write-ahead log is copied back into the database file by a thread of its own.

Left to itself, SQLite has the commit that takes the WAL past 1,000 pages copy it into the database
file and sync that file, inside its COMMIT (an automatic checkpoint). At a thousand one-record score
requests a second that is a few milliseconds about every second, waited for by every request of that
commit's group: 2-3 % of requests, the p98-p99 of one-record latency. Here a thread checkpoints shortly
after writes (PASSIVE: it never waits for, nor blocks, readers or writers), so the commits' own
checkpoints find little left to copy. Those stay on: only a writer can start the WAL file over.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import Engine

log = logging.getLogger("crispml.storage")


class WalCheckpointer:
    def __init__(self, database: Path, *, interval_s: float = 0.05, idle_s: float = 2.0) -> None:
        """Checkpoint `database` at most every `interval_s` while it is written; the thread ends after
        `idle_s` without writes and starts again with the next."""
        self._database = database
        self._interval_s = interval_s
        self._idle_s = idle_s
        self._written = threading.Event()
        self._closing = threading.Event()
        """Set by `close`: no thread starts after it, and the running one ends."""
        self._lock = threading.Lock()
        self._running = False
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.checkpoints = 0
        """Checkpoints run so far (in this process)."""

    def written(self) -> None:
        """A write transaction committed: checkpoint soon."""
        self._written.set()
        with self._lock:
            if self._closing.is_set() or (self._running and self._pid == os.getpid()):
                return  # a forked child inherits the flag, not the thread
            self._running, self._pid = True, os.getpid()
            self._thread = threading.Thread(target=self._run, name="crispml-wal-checkpoint", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the thread and wait for it to close its connection. Until then the database stayed open
        after the store was closed: its last connection, closing a moment later, still checkpointed and
        removed the WAL file, under a copy or a backup of the folder taken meanwhile."""
        with self._lock:  # `written` checks under it: no thread starts once this is set
            self._closing.set()
            thread = self._thread if self._pid == os.getpid() else None
        self._written.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        connection = sqlite3.connect(self._database, isolation_level=None, check_same_thread=False)
        try:
            while True:
                if not self._written.wait(self._idle_s):
                    with self._lock:
                        if not self._written.is_set():  # checked under the lock `written` takes: no write missed
                            self._running = False
                            return
                    continue
                if self._closing.is_set():
                    return
                self._written.clear()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # the commits' own checkpoints still run
                    log.debug("background checkpoint of %s failed: %s", self._database, exc)
                self._closing.wait(self._interval_s)
        finally:
            with self._lock:
                self._running = False
            connection.close()


def wal_checkpointer(engine: Engine) -> WalCheckpointer | None:
    """A checkpointer for `engine`'s database when it is a SQLite file, else None."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return WalCheckpointer(Path(database))
