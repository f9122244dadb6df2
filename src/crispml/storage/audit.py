"""Repository of the audit log: events appended in the transaction of the change they record.

Appending takes the chain's head row under a lock held until the transaction ends (SQLite's write
transaction holds the whole file; PostgreSQL's SELECT ... FOR UPDATE holds the row), so writers in
any number of processes chain their events one after another. The head is read once per transaction
and kept: a transaction that appends several times (a group commit's batches) locks once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Select, func, select

from crispml.domain import AuditEvent, AuditQuery, ModelVersion
from crispml.errors import IntegrityFailure
from crispml.identity import acting, request_id
from crispml.storage import schema as t
from crispml.storage.audit_chain import StoredEvent, canonical, digest, hashed_fields, walk
from crispml.storage.bulk_insert import DriverInsert

_INSERT_EVENTS = DriverInsert(t.audit_events)
_COLUMNS = ("seq", "at", "principal", "action", "resource", "request_id", "before_json", "after_json",
            "before_sha256", "after_sha256", "prev_hash", "hash", "environment")  # fmt: skip
_HEAD = "SELECT seq, hash FROM audit_head WHERE id = 1"
_HEAD_FOR_UPDATE = f"{_HEAD} FOR UPDATE"
"""Locks the head row until the transaction ends: the next writer waits here, then reads the new head."""
_MOVE_HEAD_SQLITE = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1"
_PG_ROWS_PER_STATEMENT = 1000
_VERIFY_PAGE = 5000
MODEL_BINDING_ACTIONS = ("model.train", "model.adopt", "model.import")
"""The events that record which artifact a model row was created with (see `check_model`)."""


@dataclass(frozen=True)
class NewEvent:
    """An event to append: who did `action` to `resource`, and its state before and after."""

    action: str
    resource: str
    before: Any = None
    after: Any = None
    principal: str | None = None
    request_id: str | None = None


class AuditRepository:
    def __init__(self, connection: Connection, default_principal: str, environment: str | None = None) -> None:
        """`environment`: the deployment's (dev, qa, prod), recorded with every event appended and hashed."""
        self.connection = connection
        self._default_principal = default_principal
        self._environment = environment
        self._head: tuple[int, str] | None = None

    def append(
        self,
        *,
        action: str,
        resource: str,
        before: Any = None,
        after: Any = None,
        principal: str | None = None,
        request: str | None = None,
    ) -> AuditEvent:
        """Append one event in this transaction; it commits or rolls back with the change it records.

        `before`/`after` are small JSON-able states (None: none). The principal is `principal`, else the
        acting principal, else the store's user; the request id is `request`, else the current one.

        Call it in a `Storage.transaction()` (never in `reading()`, whose SQLite snapshot cannot write),
        after the change's own writes: the head is then the last lock a transaction takes, so writers
        queued on it hold nothing another writer waits for (no deadlock on PostgreSQL).
        """
        return self.append_many([NewEvent(action, resource, before, after, principal, request)])[0]

    def append_many(self, new: Sequence[NewEvent]) -> list[AuditEvent]:
        """Append events in order with one insert (a group commit's score batches)."""
        events: list[AuditEvent] = []
        self._append(new, events)
        return events

    def append_quietly(self, new: Sequence[NewEvent]) -> None:
        """`append_many` for a writer that does not read the events back (the group commit's score batches)."""
        self._append(new, None)

    def _append(self, new: Sequence[NewEvent], events: list[AuditEvent] | None) -> None:
        if not new:
            return
        seq, previous = self._locked_head()
        at = datetime.now(UTC)
        at_text = at.isoformat()  # one time for the whole group, written once
        acting_now = acting()
        fallback = self._default_principal if acting_now is None else acting_now.name
        current_request = request_id()
        environment = self._environment
        rows = []
        for each in new:
            seq += 1
            principal = each.principal or fallback
            request = each.request_id or current_request
            before = None if each.before is None else canonical(each.before)
            after = None if each.after is None else canonical(each.after)
            before_sha, after_sha = digest(before), digest(after)
            hashed = hashed_fields(
                seq, at_text, principal, each.action, each.resource, request, before_sha, after_sha, previous,
                environment,
            )  # fmt: skip
            rows.append(
                {
                    "seq": seq,
                    "at": at,
                    "principal": principal,
                    "action": each.action,
                    "resource": each.resource,
                    "request_id": request,
                    "before_json": before,
                    "after_json": after,
                    "before_sha256": before_sha,
                    "after_sha256": after_sha,
                    "prev_hash": previous,
                    "hash": hashed,
                    "environment": environment,
                }
            )
            if events is not None:
                events.append(AuditEvent(seq, at, principal, each.action, each.resource, request, each.before,
                                         each.after, before_sha, after_sha, hashed, environment))  # fmt: skip
            previous = hashed
        self._write(rows, seq, previous)
        self._head = (seq, previous)

    def _locked_head(self) -> tuple[int, str]:
        if self._head is None:
            postgres = self.connection.dialect.name == "postgresql"
            cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(_HEAD_FOR_UPDATE if postgres else _HEAD)
                seq, hashed = cursor.fetchone()
            finally:
                cursor.close()
            self._head = (int(seq), str(hashed))
        return self._head

    def _write(self, rows: list[dict[str, Any]], seq: int, hashed: str) -> None:
        """Insert the events and move the head, on the driver's cursor: a group commit pays this per
        transaction, and SQLAlchemy's statement machinery cost more than the statements themselves."""
        if self.connection.dialect.name != "postgresql":
            _INSERT_EVENTS(self.connection, rows)
            cursor = self.connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cursor.execute(_MOVE_HEAD_SQLITE, (seq, hashed))
            finally:
                cursor.close()
            return
        # PostgreSQL: the head moves in the statement that inserts the events, one round trip in all.
        with self.connection.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            for start in range(0, len(rows), _PG_ROWS_PER_STATEMENT):
                chunk = rows[start : start + _PG_ROWS_PER_STATEMENT]
                values = [row[column] for row in chunk for column in _COLUMNS]
                cursor.execute(_postgres_insert(len(chunk)), [seq, hashed, *values])

    # -- reads ----------------------------------------------------------------------------------
    def list_events(self, query: AuditQuery, limit: int = 100, offset: int = 0) -> tuple[list[AuditEvent], int]:
        """Events matching `query`, newest first, and how many match in all."""
        found = _filtered(select(t.audit_events), query).order_by(t.audit_events.c.seq.desc())
        rows = self.connection.execute(found.limit(limit).offset(offset)).mappings().all()
        total = self.connection.scalar(_filtered(select(func.count()).select_from(t.audit_events), query))
        return [_event(row) for row in rows], int(total or 0)

    def verify(self) -> int:
        """Walk the whole chain; returns how many events it holds, or raises `IntegrityFailure` naming
        the first event edited, deleted or reordered."""
        head = self.connection.execute(select(t.audit_head.c.seq, t.audit_head.c.hash).where(t.audit_head.c.id == 1))
        row = head.first()
        if row is None:
            raise IntegrityFailure("the audit log's head is missing: the log was tampered with")
        return walk(self._stored(), int(row[0]), str(row[1]))

    def _stored(self) -> Iterator[StoredEvent]:
        # Pages by sequence number: the walk never holds the whole log in memory.
        after = -1
        while True:
            query = select(t.audit_events).where(t.audit_events.c.seq > after).order_by(t.audit_events.c.seq)
            rows = self.connection.execute(query.limit(_VERIFY_PAGE)).mappings().all()
            for row in rows:
                yield StoredEvent(**{key: row[key] for key in StoredEvent.__dataclass_fields__})
            if len(rows) < _VERIFY_PAGE:
                return
            after = rows[-1]["seq"]

    def check_model(self, model: ModelVersion) -> None:
        """Raise `IntegrityFailure` unless `model`'s row names the artifact its creating event recorded.

        The event itself must still hash to its stored hash and be the one its successor (or the head)
        chains from, so forging it means rewriting the rest of the log, which `verify` reveals.
        """
        events = t.audit_events
        query = (
            select(events)
            .where(events.c.resource == f"model:{model.ref}", events.c.action.in_(MODEL_BINDING_ACTIONS))
            .order_by(events.c.seq)
            .limit(1)
        )
        row = self.connection.execute(query).mappings().first()
        if row is None:
            raise IntegrityFailure(f"model {model.ref} has no audit event recording its artifact: it was not made here")
        stored = StoredEvent(**{key: row[key] for key in StoredEvent.__dataclass_fields__})
        successor = self.connection.scalar(select(events.c.prev_hash).where(events.c.seq == stored.seq + 1))
        if successor is None:
            successor = self.connection.scalar(select(t.audit_head.c.hash).where(t.audit_head.c.seq == stored.seq))
        intact = stored.recomputed() == stored.hash and digest(stored.after_json) == stored.after_sha256
        if not intact or successor != stored.hash:
            raise IntegrityFailure(f"model {model.ref}: the audit event recording its artifact was tampered with")
        recorded = json.loads(stored.after_json or "{}")
        # A row without its twin is safe (scoring compiles one from the checked model and proves it);
        # a row naming another twin, or another model artifact, is not.
        twin_ok = model.twin_sha256 is None or model.twin_sha256 == recorded.get("twin_sha256")
        bound = (recorded.get("id"), recorded.get("artifact_sha256"))
        if bound != (model.id, model.artifact_sha256) or not twin_ok:
            raise IntegrityFailure(
                f"model {model.ref}: its row names artifact {model.artifact_sha256[:12]}, not the "
                f"{str(recorded.get('artifact_sha256'))[:12]} its audit event recorded; the row was edited"
            )


@lru_cache(maxsize=64)
def _postgres_insert(rows: int) -> str:
    """PostgreSQL: move the head (seq, hash) and insert `rows` events, in one statement."""
    row = f"({', '.join(['%s'] * len(_COLUMNS))})"
    return (
        "WITH head AS (UPDATE audit_head SET seq = %s, hash = %s WHERE id = 1) "
        f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES {', '.join([row] * rows)}"
    )


def model_state(model: ModelVersion) -> dict[str, Any]:
    """What a model's creating event records: the row's id and the artifacts it is bound to."""
    return {"id": model.id, "artifact_sha256": model.artifact_sha256, "twin_sha256": model.twin_sha256}


def _filtered(query: Select[Any], filters: AuditQuery) -> Select[Any]:
    events = t.audit_events
    if filters.since is not None:
        query = query.where(events.c.at >= filters.since)
    if filters.until is not None:
        query = query.where(events.c.at < filters.until)
    if filters.principal is not None:
        query = query.where(events.c.principal == filters.principal)
    for column, value in ((events.c.action, filters.action), (events.c.resource, filters.resource)):
        if value is None:
            continue
        if value.endswith("*"):
            prefix = value[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(column.like(f"{prefix}%", escape="\\"))
        else:
            query = query.where(column == value)
    return query


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        seq=row["seq"],
        at=row["at"],
        principal=row["principal"],
        action=row["action"],
        resource=row["resource"],
        request_id=row["request_id"],
        before=None if row["before_json"] is None else json.loads(row["before_json"]),
        after=None if row["after_json"] is None else json.loads(row["after_json"]),
        before_sha256=row["before_sha256"],
        after_sha256=row["after_sha256"],
        hash=row["hash"],
        environment=row["environment"],
    )
