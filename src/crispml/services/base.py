"""What every service shares: the store, the acting user, ids, time and perf spans."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from crispml.domain import PerfRecord
from crispml.identity import acting
from crispml.observability.perf import Span, perf_span
from crispml.ports import Storage
from crispml.storage.ledger_writes import PerfWrite

Progress = Callable[[str, float], None]
"""Progress callback: (phase description, fraction done 0..1)."""


def no_progress(_phase: str, _fraction: float) -> None:
    return None


def new_id(prefix: str) -> str:
    """`prefix-` then 24 hex digits: the time in milliseconds (12), then 48 random bits (12).

    Time first, as in UUIDv7: rows keyed by new ids append at the right edge of their primary key's index
    instead of landing on a random page each (a group commit of score batches wrote one page per batch
    into the WAL). The random part makes a collision unlikely even between ids of one millisecond; 48
    random bits alone (the old scheme) were likely to collide after some million score batches.
    """
    return f"{prefix}-{time.time_ns() // 1_000_000:012x}{os.urandom(6).hex()}"


def now() -> datetime:
    return datetime.now(UTC)


class Service:
    def __init__(self, store: Storage, user: str) -> None:
        self.store = store
        self._default_user = user

    @property
    def user(self) -> str:
        """Who acts: the principal an adapter authenticated, else the user this service was built for."""
        principal = acting()
        return self._default_user if principal is None else principal.name

    def _perf(self, method: str) -> AbstractContextManager[Span]:
        return perf_span(method, self._store_perf)

    def _store_perf(self, record: PerfRecord) -> None:
        with self.store.transaction() as uow:
            uow.perf.add(record)


class GroupedPerfService(Service):
    """A service whose perf rows ride along with the next group commit (scoring's): nobody waits for them."""

    def _store_perf(self, record: PerfRecord) -> None:
        self.store.write_soon(PerfWrite(record))
