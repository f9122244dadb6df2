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
