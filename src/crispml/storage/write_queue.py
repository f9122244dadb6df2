"""Writers to one SQLite file take turns in the kernel, not in SQLite's busy handler.

SQLite lets one transaction write at a time. A writer that finds the file locked is put to sleep by
SQLite's busy handler for 1, 2, 5, 10... up to 100 ms before it looks again, however soon the lock
is freed: with two server workers committing hundreds of times a second, that made one-record p99
latencies of seconds. Here every write transaction first takes an exclusive `flock` on a lock file
beside the database; the kernel wakes the next writer the moment the lock is released, and threads of
one process queue on a lock of their own before that.

PostgreSQL needs none of this: its writers do not exclude each other.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine

try:
    import fcntl
except ImportError:  # not POSIX: threads still queue; processes fall back to SQLite's busy handler
    fcntl = None  # type: ignore[assignment]


class WriteQueue:
    """A re-entrant lock held around each write transaction, across threads and processes."""

    def __init__(self, lock_file: Path) -> None:
        self._lock_file = lock_file
        self._threads = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = os.getpid()

    def __enter__(self) -> None:
        self._threads.acquire()
        try:
            if self._depth == 0 and fcntl is not None:
                fcntl.flock(self._descriptor(), fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise
        self._depth += 1

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._depth -= 1
        try:
            if self._depth == 0 and fcntl is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _descriptor(self) -> int:
        # A forked child shares its parent's open file, and with it the parent's flock: open its own.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd


def write_queue(engine: Engine) -> AbstractContextManager[None]:
    """The queue for write transactions on `engine`: a `WriteQueue` for a SQLite file, else nothing."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return nullcontext()
    return WriteQueue(Path(f"{database}-writers.lock"))
