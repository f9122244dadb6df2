"""Who may use the API is audited as any other state change: users made, revoked and rotated, and
every refused key, without ever a key or its digest in the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from crispml.container import Container
from crispml.domain import AuditQuery
from crispml.settings import Settings
from tests.api.test_authorization import KEYS_ON, bearer


@pytest.fixture
def database_url() -> None:
    """The HTTP and CLI layers tested here act alike on both stores; the services' and storage's tests
    run on SQLite and PostgreSQL, so these start one server per test, not two."""
    return None


def test_user_changes_and_refused_keys_are_audited(make_server: Any, home: Path, database_url: str | None) -> None:
    with Container(Settings(home=home, database_url=database_url, user="root")) as container:
        container.access.create("boss", "admin")  # a server that requires keys needs an admin
        issued = container.access.create("ada", "scientist")
        rotated = container.access.rotate("ada")
        container.access.revoke("ada")
    server = make_server(**KEYS_ON).start()
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/api/v1/models", headers=bearer(issued.key)).status_code == 401  # rotated away
        assert http.get("/api/v1/models", headers=bearer(rotated.key)).status_code == 401  # revoked
    server.stop()
    with Container(Settings(home=home, database_url=database_url, user="root")) as container:
        events, _ = container.audit.events(AuditQuery(), limit=20)
        assert container.audit.verify() == len(events)
    actions = [(e.action, e.resource, e.principal) for e in reversed(events)]
    key_id = issued.user.key_id
    assert actions == [
        ("users.create", "user:boss", "root"),
        ("users.create", "user:ada", "root"),
        ("users.rotate", "user:ada", "root"),
        ("users.revoke", "user:ada", "root"),
        ("auth.failed", f"key:{key_id}", "anonymous"),
        ("auth.failed", f"key:{rotated.user.key_id}", "anonymous"),
    ]
    log = repr([(e.before, e.after) for e in events])
    for secret in (issued.key, rotated.key, issued.user.key_digest, issued.user.key_salt):
        assert secret not in log
