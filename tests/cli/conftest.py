"""The CLI tests run commands on real stores (SQLite and PostgreSQL) and against real servers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crispml.cli import app
from tests.api.conftest import client, make_server, server, shared_server

__all__ = ["Cli", "Ran", "cli", "client", "make_server", "run", "server", "shared_server"]


@dataclass
class Ran:
    """What a command did: its exit code, stdout and stderr."""

    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def text(self) -> str:
        return self.stdout + self.stderr


def run(args: list[str], env: dict[str, str | None], expect: int | None = 0) -> Ran:
    """Invoke the CLI in-process with `env` (COLUMNS=80 unless given, as a piped terminal-less run)."""
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80", **env})
    ran = Ran(result.exit_code, result.stdout, result.stderr)
    if expect is not None:
        assert ran.code == expect, (args, ran.stdout, ran.stderr, result.exception)
    return ran


Cli = Callable[..., Any]


@pytest.fixture
def store_env(home: Path, database_url: str | None) -> dict[str, str | None]:
    """The environment of a fresh local store on SQLite or PostgreSQL."""
    return {"CRISPML_HOME": str(home), "CRISPML_USER": "cli-tester", "CRISPML_DATABASE_URL": database_url}


@pytest.fixture
def cli(store_env: dict[str, str | None]) -> Cli:
    """Run a crispml command on the store; returns parsed JSON under --json, else stdout + stderr."""

    def invoke(*args: str, expect: int = 0) -> Any:
        ran = run(list(args), store_env, expect)
        if expect == 0 and "--json" in args:
            return ran.json
        return ran.text

    return invoke
