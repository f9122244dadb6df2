"""Every audit event records the deployment's environment (CRISPML_ENVIRONMENT), covered by its hash;
events written before environments were recorded (none) still verify, before and between new ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

import crispml
from crispml.domain import AuditQuery
from crispml.errors import IntegrityFailure
from crispml.storage.store import Store
from tests.cli.conftest import run


@pytest.fixture
def qa_env(store_env: dict[str, str | None]) -> dict[str, str | None]:
    return {**store_env, "CRISPML_ENVIRONMENT": "qa"}


def test_events_record_the_environment_and_verify(qa_env: dict[str, str | None], small_csv: Path) -> None:
    run(["ingest", str(small_csv), "--name", "ccf", "--json"], qa_env)
    run(["prepare", "ccf", "--json"], {**qa_env, "CRISPML_ENVIRONMENT": "prod"})
    items = run(["audit", "list", "--json"], qa_env).json["items"]
    assert [(e["action"], e["environment"]) for e in items] == [("dataset.prepare", "prod"), ("dataset.ingest", "qa")]
    assert "qa" in run(["audit", "list"], qa_env).stdout  # the table shows the column too
    assert run(["audit", "verify", "--json"], qa_env).json == {"checked": 2}


def test_an_edited_environment_is_named(qa_env: dict[str, str | None], small_csv: Path) -> None:
    run(["ingest", str(small_csv), "--name", "ccf", "--json"], qa_env)
    with (
        crispml.connect(home=qa_env["CRISPML_HOME"], database_url=qa_env["CRISPML_DATABASE_URL"]) as cml,
        cml.container.engine.begin() as connection,
    ):
        connection.execute(text("UPDATE audit_events SET environment = 'prod' WHERE seq = 1"))
    failed = run(["audit", "verify"], qa_env, expect=5)
    assert "audit event 1 (dataset.ingest" in failed.stderr and "was edited" in failed.stderr


def test_events_without_an_environment_still_verify(home: Path, database_url: str | None) -> None:
    """A log written before migration 0017 (events with no environment) followed by new events."""
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        old = Store(cml.container.engine, cml.store.artifacts, "tester")  # records no environment, as before
        for n in (1, 2):
            with old.transaction() as uow:
                uow.audit.append(action="alias.set", resource="alias:fraud@champion", after={"model": f"fraud/{n}"})
        with cml.store.transaction() as uow:
            uow.audit.append(action="alias.delete", resource="alias:fraud@champion")
        events, _ = cml.audit.events(AuditQuery())
        assert [(e.seq, e.environment) for e in events] == [(3, "dev"), (2, None), (1, None)]
        assert cml.audit.verify() == 3
        with cml.container.engine.begin() as connection:  # an old event given an environment afterwards
            connection.execute(text("UPDATE audit_events SET environment = 'dev' WHERE seq = 2"))
        with pytest.raises(IntegrityFailure, match=r"audit event 2 .* was edited"):
            cml.audit.verify()
