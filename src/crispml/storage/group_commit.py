"""Group commit: concurrent writes share one transaction, and each caller returns only once it committed.

Callers hand a unit of work to `GroupCommit.run` and wait, or to `submit` and wait on the future it
returns (an asyncio caller awaits it without holding a thread). One writer thread takes everything pending,
runs the units in a single transaction, commits, then wakes every caller of that group. If a unit
raises, the group's transaction is rolled back and each unit of it is run again in a transaction of
its own, so a unit commits whole or not at all and fails its own caller only. A failed commit fails
every caller of the group, none of which then wrote anything, and is not retried: whether to retry a
commit of unknown outcome is the caller's decision.

A unit may offer `together(repo, units)`: the units of a group that share it are then written by one
call, in one statement where the database allows (all the score rows of a group in one insert). That
matters more than it seems: the writer gives up the GIL during every database call and waits to get it
back from the busy event loop, so a group's time grows with its number of calls, not its rows.

While one group commits, the next one gathers, so under load a commit (and its fsync) is paid once per
group instead of once per request, and a lone caller waits for nothing but its own commit.

`observer`, when set, is told of every committed group: its number of units and how long its oldest
unit waited from being handed over until the commit (plain numbers: storage knows nothing of metrics).

`background` hands over work nobody waits for (perf records): it rides along with the next group, a
failure is logged, and `flush` (called when the store closes) waits until all of it is written.
A unit handed over is written even if its waiter cancels the future: cancelling only stops the waiting.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from crispml.storage.unit_of_work import UnitOfWork

Work = Callable[[UnitOfWork], None]
GroupObserver = Callable[[int, float], None]
"""Told of each committed group: (units, seconds its oldest unit waited until the commit)."""
log = logging.getLogger("crispml.storage")


@dataclass(eq=False)
class _Pending:
    work: Work
    done: Future[None] | None
    """Completed once the unit committed or failed; None for a unit nobody waits for (`background`): a
    future's locks and callbacks cost more than such a unit's own work (a perf row)."""
    handed_over: float = field(default_factory=time.perf_counter)
    error: BaseException | None = None

    def settle(self) -> None:
        """Complete the future with the unit's outcome, unless its waiter cancelled it (the unit was
        written or failed all the same)."""
        done = self.done
        if done is None or not done.set_running_or_notify_cancel():
            return
        if self.error is None:
            done.set_result(None)
        else:
            done.set_exception(self.error)


class GroupCommit:
    def __init__(
        self,
        transaction: Callable[[], AbstractContextManager[UnitOfWork]],
        *,
        max_group: int = 256,
        idle_seconds: float = 2.0,
    ) -> None:
        """`transaction()` opens one unit of work; the writer thread ends after `idle_seconds` without work."""
        self._transaction = transaction
        self._max_group = max_group
        self._idle_seconds = idle_seconds
        self._queue: deque[_Pending] = deque()
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        """Wakes the writer thread for new work."""
        self._all_settled = threading.Condition(self._lock)
        """Wakes `flush` callers once a group is settled."""
        self._handed = self._settled = 0
        """Units handed over so far, and units settled so far (they settle in the order they were handed)."""
        self._writer_running = False
        self._pid = os.getpid()
        self._commits = 0
        self._writes = 0
        self.observer: GroupObserver | None = None
        """Told of every committed group on the writer thread; it must be quick, and what it raises is logged."""

    def run(self, work: Work) -> None:
        """Run `work(repo)` in the next group's transaction; returns once that transaction committed.

        Raises what `work` raised (nothing of it was written), or what the commit raised.
        """
        self.submit(work).result()

    def submit(self, work: Work) -> Future[None]:
        """Run `work(repo)` with the next group; the future completes once that transaction committed,
        or raises what `run` would raise."""
        done: Future[None] = Future()
        self._enqueue(_Pending(work, done))
        return done

    def background(self, work: Work) -> None:
        """Run `work(repo)` with the next group without anybody waiting for it; a failure is logged."""
        self._enqueue(_Pending(work, None))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything handed over so far is written (or failed); False on timeout."""
        with self._lock:
            handed = self._handed
            return self._all_settled.wait_for(lambda: self._settled >= handed, timeout)

    def _enqueue(self, pending: _Pending) -> _Pending:
        with self._lock:
            if self._pid != os.getpid():  # a forked child inherits the state, not the writer thread
                self._queue.clear()
                self._writer_running, self._pid, self._handed, self._settled = False, os.getpid(), 0, 0
            self._queue.append(pending)
            self._handed += 1
            if self._writer_running:
                self._wakeup.notify()
            else:
                self._writer_running = True
                threading.Thread(target=self._write, name="crispml-group-commit", daemon=True).start()
        return pending

    @property
    def commits(self) -> int:
        """Transactions committed so far."""
        return self._commits

    @property
    def writes(self) -> int:
        """Units of work committed so far (more than `commits` once groups formed)."""
        return self._writes

    @property
    def pending(self) -> int:
        """Units waiting for the next group (not those of the group now committing)."""
        with self._wakeup:
            return len(self._queue)

    def _write(self) -> None:
        group: list[_Pending] = []
        try:
            while True:
                with self._wakeup:
                    if not self._queue:
                        self._wakeup.wait(self._idle_seconds)
                    if not self._queue:
                        self._writer_running = False
                        return
                    group = [self._queue.popleft() for _ in range(min(len(self._queue), self._max_group))]
                self._commit(group)
                with self._lock:
                    self._settled += len(group)
                    group = []
                    self._all_settled.notify_all()
        except BaseException as exc:  # never leave a caller waiting on a writer that is gone
            with self._lock:
                stranded, self._writer_running = [*group, *self._queue], False
                self._queue.clear()
                self._settled += len(stranded)  # failed: `flush` waits for them no longer
                self._all_settled.notify_all()
            for pending in stranded:
                if pending.done is not None and not pending.done.done():
                    pending.error = exc
                    pending.settle()
            raise

    def _commit(self, group: list[_Pending]) -> None:
        if self._attempt(group, final=len(group) == 1):
            # One unit failed and took the others' work with it: give each unit a transaction of its own.
            for pending in group:
                self._attempt([pending], final=True)

    def _attempt(self, group: list[_Pending], *, final: bool) -> bool:
        """Run the units in one transaction and wake their callers; unless `final`, a unit's failure
        wakes nobody and returns True, for the units to be tried one by one."""
        running: _Pending | None = None
        committed = False
        try:
            with self._transaction() as repo:
                for together, units in _kinds(group):
                    running = units[0]
                    if together is None or len(units) == 1:
                        for unit in units:
                            running = unit
                            unit.work(repo)
                    else:
                        together(repo, [unit.work for unit in units])
                running = None
        except Exception as exc:
            if running is not None and not final:
                return True
            for pending in [running] if running is not None else group:
                pending.error = exc  # a failed commit wrote nothing of the group: it fails them all
        else:
            self._commits += 1
            self._writes += len(group)
            committed = True
        for pending in group:
            if pending.error is not None and pending.done is None:
                log.warning("a background write failed: %s", pending.error)
            pending.settle()
        if committed:  # after the callers are woken: they do not wait for the measurement
            self._observe(group)
        return False

    def _observe(self, group: list[_Pending]) -> None:
        observer = self.observer
        if observer is None:
            return
        try:
            observer(len(group), time.perf_counter() - group[0].handed_over)
        except Exception:  # the measurement must never fail the commit it measured
            log.warning("the group commit's observer failed", exc_info=True)


def _kinds(group: list[_Pending]) -> list[tuple[Callable[[UnitOfWork, list[Any]], None] | None, list[_Pending]]]:
    """The group's units by their `together` (None: each written alone), in order of first appearance."""
    kinds: dict[Any, list[_Pending]] = {}
    for pending in group:
        kinds.setdefault(getattr(pending.work, "together", None), []).append(pending)
    return list(kinds.items())
