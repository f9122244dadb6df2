"""`crispml privacy ...` on local stores (SQLite and PostgreSQL) and with --remote: each feature end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crispml.cli import app
from tests.api.conftest import Server
from tests.cli.conftest import run
from tests.services.test_privacy import SECRET, people

TAG_ARGS = ["--tag", "cust=personal", "--tag", "email=personal", "--tag", "age=quasi-identifier",
            "--tag", "zip=quasi-identifier", "--tag", "diag=sensitive"]  # fmt: skip


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    people().to_csv(path, index=False)
    return path


@pytest.fixture
def env(store_env: dict[str, str | None], tmp_path: Path) -> dict[str, str | None]:
    secret = tmp_path / "pseudonym.key"
    secret.write_text(SECRET)
    return {**store_env, "CRISPML_PSEUDONYM_KEY_FILE": str(secret), "CRISPML_PSEUDONYM_KEY": None}


def test_privacy_commands_end_to_end(env: dict[str, str | None], people_csv: Path) -> None:
    def cli(*args: str, expect: int = 0, environment: dict[str, str | None] = env) -> Any:
        ran = run(list(args), environment, expect)
        return ran.json if expect == 0 and "--json" in args else ran.text

    raw = cli("ingest", str(people_csv), "--name", "people", "--slices", "4", "--key", "cust", *TAG_ARGS, "--json")
    assert raw["tags"]["age"] == "quasi-identifier" and raw["tags"]["cust"] == "personal"
    assert "--tag 'cust' must look like COLUMN=VALUE" in cli("ingest", str(people_csv), "--tag", "cust", expect=2)

    tagged = cli("privacy", "tag", "people/1", "V1=sensitive", "email=none", "--json")
    assert tagged["tags"]["V1"] == "sensitive" and "email" not in tagged["tags"]
    assert "unknown tag 'secret'" in cli("privacy", "tag", "people/1", "V1=secret", expect=2)
    assert "V1: sensitive" in cli("privacy", "tag", "people/1", "V2=sensitive")

    no_key = {**env, "CRISPML_PSEUDONYM_KEY_FILE": None}
    refused = cli("privacy", "pseudonymize", "people/1", expect=2, environment=no_key)
    assert "no pseudonym key is configured" in refused and "CRISPML_PSEUDONYM_KEY_FILE" in refused
    pseudo = cli("privacy", "pseudonymize", "people/1", "--column", "cust", "--json")
    assert (pseudo["name"], pseudo["version"]) == ("people", 2)

    anonymized = cli("privacy", "anonymize", "people/1", "-k", "5", "--json")
    assert anonymized["report"]["k_achieved"] >= 5
    assert "k achieved" in cli("privacy", "anonymize", "people/1", "-k", "3", "-l", "2", "--sensitive", "diag")
    listed = len(cli("datasets", "--json"))
    assert "nothing was written" in cli("privacy", "anonymize", "people/1", "-k", "99999", expect=2)
    assert len(cli("datasets", "--json")) == listed

    erasure = cli("privacy", "erase", "--key", "cust=c7", "--json")
    assert "people/1" in {v["erased"] for v in erasure["versions"]} and erasure["records"] == 2
    assert "erased people/3 (1 rows): now people/5" in cli("privacy", "erase", "--key", "email=user8@example.org")
    assert "nothing changed" in cli("privacy", "erase", "--key", "cust=c7")
    assert "must look like COLUMN=VALUE" in cli("privacy", "erase", "--key", "cust", expect=2)
    assert "was erased" in cli("prepare", "people/1", expect=3)

    assert cli("privacy", "retention", "set", "people", "0", "--json") == {"periods": {"people": 0}}
    assert "people: 0 days" in cli("privacy", "retention", "list")
    assert "whole number of days" in cli("privacy", "retention", "set", "people", "soon", expect=2)
    applied = cli("privacy", "retention", "apply", "--json")
    assert applied["kept"] == [] and all(v.startswith("people/") for v in applied["expired"])
    assert "expired 0 versions" in cli("privacy", "retention", "apply")
    assert cli("privacy", "retention", "set", "people", "none", "--json") == {"periods": {}}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_privacy_commands_through_remote(
    make_server: Callable[..., Server], home: Path, tmp_path: Path, people_csv: Path
) -> None:
    secret = tmp_path / "server.key"
    secret.write_text(SECRET)
    server = make_server(CRISPML_PSEUDONYM_KEY_FILE=str(secret)).start()
    runner = CliRunner()

    def remote(*args: str, expect: int = 0) -> Any:
        result = runner.invoke(app, [*args, "--remote", server.url], env={"CRISPML_HOME": str(tmp_path / "unused")})
        assert result.exit_code == expect, (result.stdout, result.stderr)
        return json.loads(result.stdout) if "--json" in args and expect == 0 else result.stdout + result.stderr

    # A local file goes up as an upload, its tags with it.
    raw = remote("ingest", str(people_csv), "--name", "people", "--slices", "4", "--key", "cust", *TAG_ARGS, "--json")
    assert raw["tags"]["zip"] == "quasi-identifier"
    assert remote("privacy", "tag", "people", "V1=sensitive", "--json")["tags"]["V1"] == "sensitive"
    assert remote("privacy", "pseudonymize", "people/1", "--json")["version"] == 2
    assert remote("privacy", "anonymize", "people/1", "-k", "5", "--json")["report"]["k_achieved"] >= 5
    assert "refused" in remote("privacy", "anonymize", "people/1", "-k", "99999", expect=2)
    erasure = remote("privacy", "erase", "--key", "cust=c9", "--json")
    assert {"people/1", "people/2", "people-anon/1"} == {v["erased"] for v in erasure["versions"]}
    assert remote("privacy", "retention", "set", "people", "30", "--json") == {"periods": {"people": 30}}
    assert remote("privacy", "retention", "apply", "--json")["expired"] == []
