"""The shared data pool: one crispml store every environment reads datasets from, each through its own
GDPR filter (see `crispml.steps.pool_filter`), applied before anything is written locally.

The pool is opened read-only on first use (the composition root knows how, see
`crispml.container.open_pool`); a dataset is read from it after its file's sha256 is checked, filtered in
memory, and only then handed to the caller, which stores it as a new raw version.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from crispml.domain import Dataset
from crispml.errors import InvalidInput, NotFound
from crispml.ports import Storage
from crispml.steps.pool_filter import Action, Filtered, apply_filter, parse_filter

NO_POOL = (
    "no data pool is configured: set CRISPML_POOL_HOME to the pool store's home (and CRISPML_POOL_DATABASE_URL "
    "when its database is not the SQLite one inside it)"
)


@dataclass(frozen=True)
class PoolRead:
    """A pool dataset as this environment may see it, and what its filter did."""

    dataset: Dataset
    """The pool's dataset version (name, version, sha256, tags)."""
    filtered: Filtered
    rules: dict[str, str]
    """The filter applied: action by tag (empty: none configured, the dataset as the pool holds it)."""

    def lineage(self, store: str) -> dict[str, Any]:
        """What the new local version records of where it came from and how it was filtered."""
        pool = self.dataset
        return {
            "pool": {"store": store, "name": pool.name, "version": pool.version, "id": pool.id,
                     "sha256": pool.sha256, "rows": pool.rows},
            "pool_filter": {"rules": self.rules, "columns": self.filtered.columns,
                            "anonymization": self.filtered.anonymization},
        }  # fmt: skip


class DataPool:
    """The pool as one environment reads it: where it is, and the filter on the way in."""

    def __init__(
        self,
        opener: Callable[[], Storage] | None,
        where: str,
        rules: Mapping[str, str],
        pseudonym_key: Callable[[], bytes | None],
        k: int,
    ) -> None:
        """`opener` gives the pool's store, opened once (None: no pool configured); `where` names it without
        secrets; `pseudonym_key` reads this environment's key when a filter needs it; `k` is what
        `generalize` reaches."""
        self._opener = opener
        self.where = where
        self._rules = dict(rules)
        self._key = pseudonym_key
        self._k = k

    def read(self, ref: str) -> PoolRead:
        """The pool's dataset `ref` (name, name/version, name@version or id), filtered. Raises InvalidInput
        when no pool is configured or the filter is bad, NotFound when the pool has no such dataset."""
        rules = self.check()  # a bad filter is refused before the pool is touched
        pool = self._open()
        with pool.reading() as uow:
            try:
                dataset = uow.datasets.get(ref.replace("@", "/"))
            except NotFound:
                raise NotFound(f"the data pool {self.where} has no dataset {ref!r}") from None
        if dataset.removed is not None:
            raise InvalidInput(f"pool dataset {dataset.name}/{dataset.version} was {dataset.removed}: its rows are "
                               "gone", field="source.pool")  # fmt: skip
        frame = pool.read_frame(dataset.sha256)
        needed = any(a != Action.KEEP for a in rules.values())
        key = self._key() if needed else None
        filtered = apply_filter(frame, dataset.tags, dataset.params.get("key"), rules, key, self._k, dataset.target)
        return PoolRead(dataset, filtered, {tag: action.value for tag, action in rules.items()})

    def check(self) -> dict[str, Action]:
        """The filter, checked; InvalidInput when no pool is configured or the filter is bad (nothing opened)."""
        if self._opener is None:
            raise InvalidInput(NO_POOL, field="CRISPML_POOL_HOME")
        return parse_filter(self._rules)

    def _open(self) -> Storage:
        assert self._opener is not None
        return self._opener()  # the opener keeps the store it opened
