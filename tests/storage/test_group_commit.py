"""Group commit: concurrent small writes share transactions, and each caller returns only once committed.

The tests run on SQLite and on PostgreSQL. Where a test needs a group of a known size it holds the
writer thread at a gate before its first transaction (the real writer, given a gated transaction
factory) until the other callers have queued behind it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crispml.domain import FRAME, RECORD_ID, NewScoreBatch, Outcome, PerfRecord, ScoreBatch, ScoredRecords
from crispml.local import Crispml
from crispml.services.scoring import ScoreResult
from crispml.storage import schema
from crispml.storage.group_commit import GroupCommit
from crispml.storage.store import Store
from crispml.storage.unit_of_work import UnitOfWork
from crispml.storage.write_queue import WriteQueue
from tests.conftest import wait_for

THREADS = 32
PER_REQUEST = 3


class Gate:
    """A transaction factory whose first transaction waits until the gate is opened.

    It also notes how many score batches each of its transactions wrote.
    """

    def __init__(self, store: Store, *, fail_commits: bool = False) -> None:
        self.store = store
        self.fail_commits = fail_commits
        self.opened = threading.Event()
        self.transactions = 0
        self.batches_written: list[int] = []

    @contextmanager
    def __call__(self) -> Iterator[UnitOfWork]:
        self.transactions += 1
        if self.transactions == 1:
            assert self.opened.wait(60), "the test never opened the gate"
        with self.store.transaction() as repo:
            before = _batches(repo)
            yield repo
            self.batches_written.append(_batches(repo) - before)
            if self.fail_commits:
                raise OSError("disk full")  # as a failing COMMIT would: the transaction rolls back


def _batches(repo: UnitOfWork) -> int:
    return int(repo.connection.scalar(select(func.count()).select_from(schema.score_batches)) or 0)


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call on its own thread, all started together; a call's exception becomes its result."""
    results: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return results


def queue_behind_gate(writer: GroupCommit, gate: Gate, calls: list[Callable[[], Any]]) -> list[Any]:
    """Make the calls concurrently: the first one's write alone in the writer (held at the gate), the
    writes of all others queued behind it as one group."""
    results: list[Any] = [None] * len(calls)

    def first() -> None:
        results[0] = in_threads(calls[:1])[0]

    def rest() -> None:
        results[1:] = in_threads(calls[1:])

    runners = [threading.Thread(target=first), threading.Thread(target=rest)]
    runners[0].start()
    wait_for(lambda: gate.transactions == 1)
    runners[1].start()
    wait_for(lambda: writer.pending == len(calls) - 1)
    gate.opened.set()
    for runner in runners:
        runner.join(timeout=120)
    return results


def runs(writer: GroupCommit, units: list[Callable[[UnitOfWork], None]]) -> list[Callable[[], None]]:
    return [lambda unit=unit: writer.run(unit) for unit in units]


def perf_row(method: str) -> PerfRecord:
    return PerfRecord(method, datetime.now(UTC), 0.1, None, None, 1.0, 0.1, 0, Outcome.OK)


def ledger(cml: Crispml) -> pd.DataFrame:
    with cml.store.transaction() as repo:
        rows = repo.connection.execute(select(schema.scores.c.record_id, schema.scores.c.batch_id)).all()
    return pd.DataFrame(rows, columns=["record_id", "batch_id"])


def count_batches(cml: Crispml) -> int:
    with cml.store.transaction() as repo:
        return int(repo.connection.scalar(select(func.count()).select_from(schema.score_batches)) or 0)


def records(cml: Crispml, ids: list[str]) -> pd.DataFrame:
    """Raw records (features only) from frames 7-12, under the given record ids."""
    raw = cml.lifecycle.dataset_frame("ccf")
    later = raw[raw[FRAME] >= 7].drop(columns=["Class", FRAME, RECORD_ID]).head(len(ids))
    return later.assign(**{RECORD_ID: ids}).reset_index(drop=True)


# -- through the service ---------------------------------------------------------------------------
def test_concurrent_requests_all_commit_once_and_share_transactions(trained: Crispml) -> None:
    trained.score("fraud@champion", records=records(trained, ["warm-up"]))  # load the model first
    gate = Gate(trained.store)
    writer = trained.store.group_commit = GroupCommit(gate)
    requests = [records(trained, [f"t{k}-r{i}" for i in range(PER_REQUEST)]) for k in range(THREADS)]

    calls = [lambda r=r: trained.score("fraud@champion", records=r) for r in requests]
    results = queue_behind_gate(writer, gate, calls)

    assert all(isinstance(r, ScoreResult) for r in results), [r for r in results if not isinstance(r, ScoreResult)]
    for result, request in zip(results, requests, strict=True):
        assert result.scores[RECORD_ID].tolist() == request[RECORD_ID].tolist() and not result.replayed
        with trained.store.transaction() as repo:
            stored = repo.ledger.batch_scores(result.batch.id)
        assert stored.record_ids == result.scores[RECORD_ID].tolist()
        assert stored.scores == result.scores["score"].tolist()
    rows = ledger(trained)
    scored = rows[rows[RECORD_ID] != "warm-up"]
    assert len(scored) == THREADS * PER_REQUEST and scored[RECORD_ID].is_unique
    assert count_batches(trained) == THREADS + 1
    # 32 batches in two transactions; with each request's perf record, still fewer commits than writes.
    assert [n for n in gate.batches_written if n] == [1, THREADS - 1]
    assert writer.flush()  # perf records are handed over without waiting for them
    assert writer.writes == 2 * THREADS and writer.commits < writer.writes


def test_unhindered_concurrent_requests_all_commit_once(trained: Crispml) -> None:
    writer = trained.store.group_commit
    requests = [records(trained, [f"t{k}-r{i}" for i in range(PER_REQUEST)]) for k in range(THREADS)]
    results = in_threads([lambda r=r: trained.score("fraud@champion", records=r) for r in requests])
    assert all(isinstance(r, ScoreResult) for r in results), [r for r in results if not isinstance(r, ScoreResult)]
    rows = ledger(trained)
    assert len(rows) == THREADS * PER_REQUEST and rows[RECORD_ID].is_unique
    assert set(rows["batch_id"]) == {r.batch.id for r in results}
    assert writer.flush()  # perf records are handed over without waiting for them
    assert writer.writes == 2 * THREADS and writer.commits <= writer.writes


def test_concurrent_retries_with_one_idempotency_key_write_once(trained: Crispml) -> None:
    request = records(trained, ["k-1", "k-2"])
    results = in_threads([lambda: trained.score("fraud@champion", records=request, idempotency_key="once")] * 8)
    assert all(isinstance(r, ScoreResult) for r in results), results
    assert len({r.batch.id for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert len(ledger(trained)) == 2 and count_batches(trained) == 1


def test_a_large_input_keeps_its_own_transaction(trained: Crispml) -> None:
    writer = trained.store.group_commit
    writes = writer.writes
    result = trained.score("fraud@champion", dataset="ccf", frames="7-12")
    assert result.batch.rows == 12_000 and len(ledger(trained)) == 12_000
    assert writer.flush()
    assert writer.writes - writes == 1  # only the perf record went through the group writer


# -- the writer itself -----------------------------------------------------------------------------
def test_the_writer_commits_everything_pending_in_one_transaction(cml: Crispml) -> None:
    gate = Gate(cml.store)
    writer = GroupCommit(gate)
    units = [lambda repo, k=k: repo.perf.add(perf_row(f"unit-{k}")) for k in range(THREADS)]
    groups: list[tuple[int, float]] = []
    writer.observer = lambda units, waited: groups.append((units, waited))

    results = queue_behind_gate(writer, gate, runs(writer, units))

    assert results == [None] * THREADS
    assert (writer.commits, writer.writes, gate.transactions) == (2, THREADS, 2)
    # The observer hears of each group after its callers were woken: its size, and its oldest unit's wait.
    wait_for(lambda: len(groups) == 2)
    assert [size for size, _ in groups] == [1, THREADS - 1] and all(waited > 0 for _, waited in groups)
    with cml.store.transaction() as repo:
        assert {r.method for r in repo.perf.newest()} >= {f"unit-{k}" for k in range(THREADS)}


def test_hundreds_of_perf_rows_go_in_by_one_bulk_insert_whole(cml: Crispml) -> None:
    many = [perf_row(f"bulk-{k}") for k in range(600)]  # PostgreSQL: past COPY_FROM_ROWS; SQLite: two statements
    with cml.store.transaction() as repo:
        repo.perf.add_many(many)
    with cml.store.transaction() as repo:
        stored = [r for r in repo.perf.newest(limit=10_000) if r.method.startswith("bulk-")]
    assert sorted(r.method for r in stored) == sorted(r.method for r in many)
    assert all(r.outcome == Outcome.OK and r.duration_s == 0.1 for r in stored)


def test_a_failing_unit_fails_only_its_caller_and_writes_nothing(trained: Crispml) -> None:
    model = trained.lifecycle.get_model("fraud@champion")
    gate = Gate(trained.store)
    writer = GroupCommit(gate)

    def batch(name: str, key: str | None = None) -> tuple[ScoreBatch, ScoredRecords]:
        scores = ScoredRecords([f"{name}-1", f"{name}-2"], [None, None], [0.1, 0.9], [0, 1])
        return ScoreBatch(name, model.id, model.ref, key, "records", 2, datetime.now(UTC)), scores

    def writes(name: str, key: str | None = None, fail: bool = False) -> Callable[[UnitOfWork], None]:
        def unit(repo: UnitOfWork) -> None:
            score_batch, scores = batch(name, key)
            repo.ledger.add_batches([NewScoreBatch(score_batch, scores, "digest", "tester", model.threshold)])
            if fail:
                raise RuntimeError(f"{name} failed after writing its scores")

        return unit

    units = [writes("sb-first"), writes("sb-good"), writes("sb-bad", fail=True)]
    units += [writes("sb-key-a", key="k"), writes("sb-key-b", key="k")]  # one idempotency key, twice

    results = queue_behind_gate(writer, gate, runs(writer, units))

    assert results[:2] == [None, None]
    assert isinstance(results[2], RuntimeError) and "sb-bad" in str(results[2])
    # Whichever of the two came first in the group took the key; the other's batch was refused.
    keyed = dict(zip(["sb-key-a", "sb-key-b"], results[3:], strict=True))
    (won,) = [name for name, result in keyed.items() if result is None]
    (lost,) = [result for result in keyed.values() if result is not None]
    assert isinstance(lost, IntegrityError)
    # The failure rolled the group back; its units were then committed one by one.
    assert (writer.commits, writer.writes) == (3, 3)
    stored = ledger(trained).groupby("batch_id").size().to_dict()
    assert stored == {"sb-first": 2, "sb-good": 2, won: 2}  # each batch whole, the failed ones absent


def test_a_failed_commit_fails_the_whole_group_and_the_writer_goes_on(cml: Crispml) -> None:
    gate = Gate(cml.store, fail_commits=True)
    writer = GroupCommit(gate)
    units = [lambda repo, k=k: repo.perf.add(perf_row(f"lost-{k}")) for k in range(8)]
    observed: list[int] = []

    def failing_observer(units: int, _waited: float) -> None:
        observed.append(units)
        raise RuntimeError("a broken metric")

    writer.observer = failing_observer
    results = queue_behind_gate(writer, gate, runs(writer, units))

    assert all(isinstance(r, OSError) for r in results)
    assert (writer.commits, writer.writes) == (0, 0)
    with cml.store.transaction() as repo:
        assert not any(r.method.startswith("lost-") for r in repo.perf.newest())
    assert observed == []  # nothing committed, nothing observed
    gate.fail_commits = False
    writer.run(lambda repo: repo.perf.add(perf_row("after")))
    assert (writer.commits, writer.writes) == (1, 1)
    wait_for(lambda: observed == [1])  # the observer's failure was logged, the commit stood
    writer.run(lambda repo: repo.perf.add(perf_row("and after")))
    assert (writer.commits, writer.writes) == (2, 2)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_writer_thread_ends_when_idle_and_restarts_on_demand(cml: Crispml) -> None:
    writer = GroupCommit(cml.store.transaction, idle_seconds=0.05)
    writer.run(lambda repo: repo.perf.add(perf_row("first")))
    deadline = time.monotonic() + 10
    while any(t.name == "crispml-group-commit" and t.is_alive() for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the idle writer thread did not end"
        time.sleep(0.01)
    writer.run(lambda repo: repo.perf.add(perf_row("second")))
    assert (writer.commits, writer.writes) == (2, 2)


def test_a_cancelled_wait_still_writes_its_unit(cml: Crispml) -> None:
    gate = Gate(cml.store)
    writer = GroupCommit(gate)
    first = writer.submit(lambda repo: repo.perf.add(perf_row("ahead")))
    wait_for(lambda: gate.transactions == 1)
    queued = writer.submit(lambda repo: repo.perf.add(perf_row("abandoned")))
    assert queued.cancel()  # the waiter gave up (a client went away) while the unit was queued
    gate.opened.set()
    assert first.result(timeout=60) is None and writer.flush()
    with cml.store.transaction() as repo:
        assert {"ahead", "abandoned"} <= {r.method for r in repo.perf.newest()}


class PerfUnit:
    """A unit that a group writes together with its kind, counting how the writer called it."""

    together_calls: ClassVar[list[int]] = []

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail

    def __call__(self, repo: UnitOfWork) -> None:
        repo.perf.add(perf_row(self.name))
        if self.fail:
            raise RuntimeError(f"{self.name} failed after writing")

    @staticmethod
    def together(repo: UnitOfWork, units: list[PerfUnit]) -> None:
        PerfUnit.together_calls.append(len(units))
        for unit in units:
            unit(repo)


@pytest.mark.parametrize("one_fails", [False, True], ids=["all-good", "one-fails"])
def test_units_of_one_kind_are_written_together_and_a_failure_still_fails_only_its_caller(
    cml: Crispml, one_fails: bool
) -> None:
    PerfUnit.together_calls = []
    gate = Gate(cml.store)
    writer = GroupCommit(gate)
    units = [PerfUnit(f"kind-{k}", fail=one_fails and k == 5) for k in range(9)]

    results = queue_behind_gate(writer, gate, [lambda unit=unit: writer.run(unit) for unit in units])

    with cml.store.transaction() as repo:
        written = {r.method for r in repo.perf.newest()}
    if one_fails:
        assert isinstance(results[5], RuntimeError) and results[:5] + results[6:] == [None] * 8
        assert PerfUnit.together_calls == [8] and written >= {f"kind-{k}" for k in range(9) if k != 5}
        assert "kind-5" not in written and (writer.commits, writer.writes) == (8, 8)  # the 7 others, one by one
    else:
        assert results == [None] * 9 and PerfUnit.together_calls == [8]  # the first unit went alone
        assert written >= {f"kind-{k}" for k in range(9)} and writer.commits == 2


# -- SQLite writers of several processes queue on a lock file -----------------------------------------
_LABEL_ONE = """
import sys
import crispml
with crispml.connect(home=sys.argv[1]) as cml:
    print("ready", flush=True)
    sys.stdin.readline()
    cml.label(records=[{"record_id": "from-another-process", "label": 1}])
"""


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_writer_in_another_process_waits_for_the_write_queue_then_commits(cml: Crispml, home: Path) -> None:
    queue = WriteQueue(Path(f"{cml.store.engine.url.database}-writers.lock"))

    def labels() -> int:
        with cml.store.reading() as repo:
            return int(repo.connection.scalar(select(func.count()).select_from(schema.labels)) or 0)

    child = subprocess.Popen(
        [sys.executable, "-c", _LABEL_ONE, str(home)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    assert child.stdout.readline().strip() == "ready"
    with queue:  # as another process's write transaction would
        child.stdin.write("go\n")
        child.stdin.flush()
        time.sleep(0.5)
        assert child.poll() is None and labels() == 0  # queued behind the lock, nothing written
    assert child.wait(timeout=60) == 0
    assert labels() == 1
