"""`crispml users create|list|revoke|rotate` on real stores, and `--remote` with CRISPML_API_KEY."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import pytest

from crispml.cli.users import RoleName
from crispml.container import Container
from crispml.errors import Unauthorized
from crispml.identity import Role
from crispml.settings import Settings
from tests.api.conftest import Server
from tests.cli.conftest import Cli, run


@pytest.fixture
def database_url() -> None:
    """The HTTP and CLI layers tested here act alike on both stores; the services' and storage's tests
    run on SQLite and PostgreSQL, so these start one server per test, not two."""
    return None


def _authenticate(home: Path, database_url: str | None, key: str) -> Any:
    with Container(Settings(home=home, database_url=database_url)) as container:
        return container.access.authenticate(key)


def test_the_cli_offers_every_role() -> None:
    assert set(typing.get_args(RoleName)) == {role.value for role in Role}


def test_create_list_revoke_and_rotate(cli: Cli, home: Path, database_url: str | None) -> None:
    created = cli("users", "create", "alice", "--role", "steward", "--project", "p1", "--json")
    assert set(created) == {"name", "role", "key"} and created["role"] == "steward"
    key = created["key"]
    assert key.startswith("cml_") and len(key) > 50
    principal = _authenticate(home, database_url, key)
    assert (principal.name, principal.role, principal.projects) == ("alice", Role.STEWARD, frozenset({"p1"}))

    shown = cli("users", "create", "bob", "--role", "admin")
    bob_key = shown.strip().splitlines()[-1]
    assert bob_key.startswith("cml_") and "shown this once" in shown

    listed = cli("users", "list", "--json")
    assert [(u["name"], u["role"], u["projects"], u["status"]) for u in listed] == [
        ("alice", "steward", ["p1"], "active"), ("bob", "admin", None, "active")]  # fmt: skip
    for user in listed:  # a key, or anything derived from one, is never shown again
        assert not {"key", "key_id", "key_salt", "key_digest"} & set(user)
    table = cli("users", "list") + cli("users", "list", "--format", "csv")
    assert key not in table and bob_key not in table and key[4:16] not in table

    rotated = cli("users", "rotate", "alice", "--json")
    assert rotated["name"] == "alice" and rotated["key"] != key
    assert _authenticate(home, database_url, rotated["key"]).name == "alice"
    with pytest.raises(Unauthorized, match="rotated away"):
        _authenticate(home, database_url, key)

    assert cli("users", "revoke", "alice", "--json")["status"] == "revoked"
    with pytest.raises(Unauthorized, match="revoked"):
        _authenticate(home, database_url, rotated["key"])
    assert [u["status"] for u in cli("users", "list", "--json")] == ["revoked", "active"]


def test_bad_requests_change_nothing(cli: Cli) -> None:
    cli("users", "create", "alice", "--role", "viewer")
    assert "exists already" in cli("users", "create", "alice", "--role", "admin", expect=4)
    assert "'king' is not one of" in cli("users", "create", "zed", "--role", "king", expect=2)
    assert "is not valid" in cli("users", "create", "9lives", "--role", "viewer", expect=2)
    assert "does not exist" in cli("users", "rotate", "nobody", expect=3)
    assert "does not exist" in cli("users", "revoke", "nobody", expect=3)
    cli("users", "revoke", "alice")
    assert "create a new user" in cli("users", "rotate", "alice", expect=2)
    assert [(u["name"], u["role"], u["status"]) for u in cli("users", "list", "--json")] == [
        ("alice", "viewer", "revoked")]  # fmt: skip


def test_users_help_says_it_acts_locally(cli: Cli) -> None:
    assert "Acts on the local store directly" in " ".join(cli("users", "--help").split())


def test_remote_commands_send_crispml_api_key(make_server: Any, home: Path, database_url: str | None,
                                              tmp_path: Path) -> None:  # fmt: skip
    env: dict[str, str | None] = {"CRISPML_HOME": str(home), "CRISPML_DATABASE_URL": database_url}
    keys = {name: run(["users", "create", name, "--role", role, "--json"], env).json["key"]
            for name, role in (("root", "admin"), ("vic", "viewer"))}  # fmt: skip
    server: Server = make_server(CRISPML_REQUIRE_KEYS="1").start()
    remote = {"CRISPML_HOME": str(tmp_path / "unused"), "CRISPML_REMOTE": server.url}
    refused = run(["datasets", "--json"], {**remote, "CRISPML_API_KEY": None}, expect=6)
    assert "Unauthorized" in refused.text and "API key is required" in refused.text
    assert run(["datasets", "--json"], {**remote, "CRISPML_API_KEY": keys["vic"]}).json == []
    forbidden = run(["train", "ccf", "--json"], {**remote, "CRISPML_API_KEY": keys["vic"]}, expect=6)
    assert "role viewer may not model.train" in forbidden.text
    assert run(["jobs", "list", "--json"], {**remote, "CRISPML_API_KEY": keys["root"]}).json == []
