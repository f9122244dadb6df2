"""The audit log's hash chain on SQLite and PostgreSQL: appended in the change's transaction, dense and
chained across processes, and every edit, deletion or reordering done behind the service's back named."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

import crispml
from crispml.domain import AuditQuery
from crispml.errors import IntegrityFailure
from crispml.identity import Principal, Role, acting_as, serving_request
from crispml.local import Crispml


@pytest.fixture
def logged(home: Path, database_url: str | None) -> Iterator[Crispml]:
    """A store whose audit log holds five alias moves, each with its before and after."""
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        for n in range(1, 6):
            with cml.store.transaction() as uow:
                uow.audit.append(
                    action="alias.set",
                    resource="alias:fraud@champion",
                    before={"model": f"fraud/{n - 1}"} if n > 1 else None,
                    after={"model": f"fraud/{n}"},
                )
        yield cml


def _sql(cml: Crispml, *statements: str) -> None:
    """Change the database behind the service's back."""
    with cml.container.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))


def test_events_chain_with_principal_request_and_states(logged: Crispml) -> None:
    with logged.store.transaction() as uow, acting_as(Principal("alice", Role.STEWARD)), serving_request("req-1"):
        appended = uow.audit.append(action="job.cancel", resource="job:job-1", before={"status": "queued"},
                                    after={"status": "cancelled"})  # fmt: skip
    events, total = logged.audit.events(AuditQuery())
    assert total == 6 and [e.seq for e in events] == [6, 5, 4, 3, 2, 1]
    newest = events[0]
    assert newest == appended
    assert (newest.principal, newest.request_id, newest.before, newest.after) == (
        "alice", "req-1", {"status": "queued"}, {"status": "cancelled"}
    )  # fmt: skip
    assert events[1].principal == "tester" and events[1].request_id is None  # no principal acting: the store's user
    assert events[1].before == {"model": "fraud/4"}
    assert logged.audit.verify() == 6


def test_listing_filters_by_action_resource_principal_and_time(logged: Crispml) -> None:
    with logged.store.transaction() as uow, acting_as(Principal("bob", Role.ADMIN)):
        uow.audit.append(action="alias.delete", resource="alias:fraud@challenger", before={"model": "fraud/2"})
    first, _ = logged.audit.events(AuditQuery(), limit=1, offset=5)
    assert logged.audit.events(AuditQuery(principal="bob"))[1] == 1
    assert logged.audit.events(AuditQuery(action="alias.set"))[1] == 5
    assert logged.audit.events(AuditQuery(action="alias.*"))[1] == 6
    assert logged.audit.events(AuditQuery(resource="alias:fraud@challenger"))[1] == 1
    assert logged.audit.events(AuditQuery(resource="alias:fraud@c*"))[1] == 6
    assert logged.audit.events(AuditQuery(resource="alias:fraud_c*"))[1] == 0  # '_' is no wildcard
    later = logged.audit.events(AuditQuery(since=first[0].at.replace(tzinfo=None)))  # naive: UTC
    assert later[1] == 6
    assert logged.audit.events(AuditQuery(until=first[0].at))[1] == 0
    page, total = logged.audit.events(AuditQuery(), limit=2, offset=2)
    assert total == 6 and [e.seq for e in page] == [4, 3]


def test_a_failed_change_leaves_no_event(logged: Crispml) -> None:
    with pytest.raises(RuntimeError), logged.store.transaction() as uow:
        uow.audit.append(action="alias.set", resource="alias:fraud@champion", after={"model": "fraud/9"})
        raise RuntimeError("the change failed after its event was appended")
    assert logged.audit.events(AuditQuery())[1] == 5
    assert logged.audit.verify() == 5


def test_an_edited_event_is_named(logged: Crispml) -> None:
    _sql(logged, "UPDATE audit_events SET principal = 'mallory' WHERE seq = 3")
    with pytest.raises(IntegrityFailure, match=r"audit event 3 \(alias.set alias:fraud@champion\) was edited"):
        logged.audit.verify()


def test_an_edited_state_is_named(logged: Crispml) -> None:
    _sql(logged, """UPDATE audit_events SET before_json = '{"model":"fraud/7"}' WHERE seq = 2""")
    with pytest.raises(IntegrityFailure, match=r"audit event 2 .* was edited: its before/after state"):
        logged.audit.verify()


def test_an_event_edited_with_its_hash_recomputed_breaks_the_next_link(logged: Crispml) -> None:
    from crispml.storage.audit_chain import event_hash

    events, _ = logged.audit.events(AuditQuery(), limit=1, offset=2)  # seq 3
    third = events[0]
    with logged.container.engine.connect() as connection:
        prev = connection.scalar(text("SELECT prev_hash FROM audit_events WHERE seq = 3"))
    forged = event_hash(3, third.at, "mallory", third.action, third.resource, None, third.before_sha256,
                        third.after_sha256, prev, third.environment)  # fmt: skip
    _sql(logged, f"UPDATE audit_events SET principal = 'mallory', hash = '{forged}' WHERE seq = 3")
    with pytest.raises(IntegrityFailure, match=r"audit event 4 .* does not follow audit event 3"):
        logged.audit.verify()


def test_a_deleted_event_is_named(logged: Crispml) -> None:
    _sql(logged, "DELETE FROM audit_events WHERE seq = 2")
    with pytest.raises(IntegrityFailure, match="audit event 2 is missing: deleted"):
        logged.audit.verify()


def test_a_deleted_last_event_is_named(logged: Crispml) -> None:
    _sql(logged, "DELETE FROM audit_events WHERE seq = 5")
    with pytest.raises(IntegrityFailure, match="audit event 5 is missing: deleted"):
        logged.audit.verify()


def test_reordered_events_are_named(logged: Crispml) -> None:
    _sql(
        logged,
        "UPDATE audit_events SET seq = 100 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 100",
    )
    with pytest.raises(IntegrityFailure, match=r"audit event 2 .* was reordered: it was recorded as event 3"):
        logged.audit.verify()


def _append_many(home: str, database_url: str | None, who: str, count: int) -> None:
    with crispml.connect(home=home, database_url=database_url, user=who) as cml:
        for n in range(count):
            with cml.store.transaction() as uow:
                uow.audit.append(action="alias.set", resource=f"alias:{who}@a{n}", after={"n": n})


def test_concurrent_writers_in_two_processes_keep_one_valid_chain(logged: Crispml, home: Path,
                                                                  database_url: str | None) -> None:  # fmt: skip
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_append_many, args=(str(home), database_url, who, 40)) for who in ("p1", "p2")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
        assert writer.exitcode == 0
    assert logged.audit.verify() == 85
    events, _ = logged.audit.events(AuditQuery(), limit=1000)
    assert sorted(e.seq for e in events) == list(range(1, 86))
    assert {e.principal for e in events} == {"tester", "p1", "p2"}


@pytest.mark.parametrize(
    ("principal", "request_id", "before", "environment"),
    [
        ("admin", "req-1", None, None),
        ('ana\u00efs "quoted" \\ back', None, "ab" * 32, "prod"),
        ("ctrl\x01\n\t\u2028", "r\u00e9q", None, "dev"),
        ("", "", "", ""),
    ],
)
def test_event_hashes_are_the_sha256_of_the_canonical_field_list(
    principal: str, request_id: str | None, before: str | None, environment: str | None
) -> None:
    """The chain's format is part of every stored hash: the sha256 of the canonical JSON list of the fields,
    escapes, nulls and the optional environment included (events a group commit hashes with one written
    time included)."""
    import hashlib
    from datetime import UTC, datetime

    from crispml.storage.audit_chain import canonical, event_hash

    at = datetime(2026, 11, 30, 11, 59, 1, 123456, tzinfo=UTC)
    fields: list[object] = [41, at.isoformat(), principal, "score.batch", "model:fraud/1", request_id, before,
                            "cd" * 32, "ef" * 32]  # fmt: skip
    if environment is not None:
        fields.append(environment)
    expected = hashlib.sha256(canonical(fields).encode()).hexdigest()
    resource = "model:fraud/1"
    got = event_hash(41, at, principal, "score.batch", resource, request_id, before, "cd" * 32, "ef" * 32, environment)
    assert got == expected
