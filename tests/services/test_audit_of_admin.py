"""Administrative state changes are audited like the nine methods': registered sources (whose
locations, which may name hosts and secret files, never enter the log)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from crispml.domain import AuditQuery
from crispml.local import Crispml


def test_adding_and_removing_a_source_is_audited_without_its_location(cml: Crispml, tmp_path: Path) -> None:
    warehouse = tmp_path / "warehouse.db"
    sqlite3.connect(warehouse).close()
    cml.sources.add("wh", f"sqlite:///{warehouse}")
    cml.sources.remove("wh")
    events, _ = cml.audit.events(AuditQuery(resource="source:*"))
    assert [(e.action, e.resource, e.principal) for e in reversed(events)] == [
        ("source.add", "source:wh", "tester"),
        ("source.remove", "source:wh", "tester"),
    ]
    assert str(warehouse) not in repr([(e.before, e.after) for e in events])
    assert cml.audit.verify() >= 2


def test_privacy_tools_are_audited_and_an_erasure_does_not_log_the_subject(cml: Crispml, tmp_path: Path) -> None:
    from crispml.domain import SourceSpec
    from tests.services.test_privacy import people

    path = tmp_path / "people.csv"
    people().to_csv(path, index=False)
    dataset = cml.ingest(SourceSpec(path=str(path)), name="people", key="cust", tags={"cust": "personal"})
    cml.privacy.tag(dataset.id, {"age": "quasi-identifier"})
    cml.privacy.set_retention("people", 30)
    erasure = cml.privacy.erase("email", "user7@example.org")
    events, _ = cml.audit.events(AuditQuery())
    actions = [(e.action, e.resource) for e in reversed(events)]
    assert actions == [
        ("dataset.ingest", f"dataset:{dataset.id}"),
        ("privacy.tag", f"dataset:{dataset.id}"),
        ("privacy.retention.set", "dataset-name:people"),
        ("privacy.erase", f"dataset:{dataset.id}"),
        ("privacy.erase", "input-log"),  # the sweep of the online inputs is on record, even when it finds none
    ]
    assert events[0].after == {"column": "email", "records_deleted": 0}
    tag_event, erase_event = events[3], events[1]
    assert (tag_event.before, tag_event.after) == (
        {"cust": "personal"},
        {"cust": "personal", "age": "quasi-identifier"},
    )
    assert erase_event.after["rows_removed"] == 1 and erase_event.after["column"] == "email"
    assert erase_event.after["sha256"] == erasure.versions[0].new.sha256
    assert "user7@example.org" not in repr([(e.before, e.after) for e in events])
    assert cml.audit.verify() == 5


def test_reading_personal_columns_is_audited_and_other_reads_are_not(cml: Crispml, tmp_path: Path) -> None:
    from crispml.domain import SourceSpec
    from tests.services.test_privacy import people

    path = tmp_path / "people.csv"
    people().to_csv(path, index=False)
    tagged = cml.ingest(SourceSpec(path=str(path)), name="people", tags={"email": "personal", "diag": "sensitive"})
    plain = cml.ingest(SourceSpec(path=str(path)), name="plain")
    assert len(cml.lifecycle.dataset_frame(tagged.id)) == len(cml.lifecycle.dataset_frame(plain.id)) == 480
    reads, _ = cml.audit.events(AuditQuery(action="data.read"))
    assert [(e.resource, e.principal, e.after) for e in reads] == [
        (f"dataset:{tagged.id}", "tester", {"columns": ["email", "diag"], "rows": 480})
    ]
