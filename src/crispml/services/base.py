"""What every service shares: the store, the acting user, ids, time and perf spans."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from crispml.domain import PerfRecord
from crispml.observability import Span, perf_span
from crispml.storage.store import Store

Progress = Callable[[str, float], None]
"""Progress callback: (phase description, fraction done 0..1)."""


def no_progress(_phase: str, _fraction: float) -> None:
    return None


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now() -> datetime:
    return datetime.now(UTC)


class Service:
    def __init__(self, store: Store, user: str) -> None:
        self.store = store
        self.user = user

    def _perf(self, method: str) -> AbstractContextManager[Span]:
        return perf_span(method, self._store_perf)

    def _store_perf(self, record: PerfRecord) -> None:
        with self.store.transaction() as repo:
            repo.add_perf(record)
