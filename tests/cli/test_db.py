"""`crispml db upgrade`: the migrations run once and exit; with CRISPML_MIGRATE_ON_START off, a process refuses
an older schema instead of migrating it (the Kubernetes migration Job runs them, not every pod)."""

from __future__ import annotations

from tests.cli.conftest import run


def test_db_upgrade_migrates_once_and_servers_then_start_without_migrating(store_env: dict[str, str | None]) -> None:
    no_migrations = {**store_env, "CRISPML_MIGRATE_ON_START": "0"}
    refused = run(["users", "list", "--json"], no_migrations, expect=7)
    assert "crispml db upgrade" in refused.text and "none (empty)" in refused.text

    first = run(["db", "upgrade", "--json"], store_env).json
    assert first["before"] is None and first["after"] and first["changed"] is True
    again = run(["db", "upgrade"], store_env)
    assert f"already at revision {first['after']}" in again.text

    assert run(["users", "list", "--json"], no_migrations).json == []
