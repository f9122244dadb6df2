"""`crispml ... --remote URL` runs every method on a server, rendering the same answers as locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from crispml.cli import app
from tests.api.conftest import Server
from tests.conftest import SMALL_ROWS


@pytest.fixture
def database_url() -> None:
    """The HTTP and CLI layers tested here act alike on both stores; the services' and storage's tests
    run on SQLite and PostgreSQL, so these start one server per test, not two."""
    return None


def test_the_nine_methods_through_remote(server: Server, small_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str, expect: int = 0) -> Any:
        result = runner.invoke(app, [*args, "--remote", server.url], env={"CRISPML_HOME": str(tmp_path / "unused")})
        assert result.exit_code == expect, (result.stdout, result.stderr)
        return json.loads(result.stdout) if "--json" in args and expect == 0 else result.stdout + result.stderr

    raw = run("ingest", str(small_csv), "--name", "ccf", "--json")  # a local file is uploaded
    assert raw["rows"] == SMALL_ROWS and raw["name"] == "ccf"
    assert "summary of numeric columns" in run("ingest", "creditcard.csv", "--name", "ccf")  # a server file
    prepared = run("prepare", "ccf", "--json")
    curated = run("curate", prepared["id"], "--frames", "1-6", "--json")
    model = run("train", curated["id"], "--weight", "10", "--param", "n_estimators=10", "--json")
    assert model["name"] == "fraud" and model["version"] == 1
    assert "top features" in run("report", "fraud/1")
    assert run("persist", "fraud/1", "--json")["aliases"] == ["champion"]
    scored = run("score", "fraud@champion", "--dataset", "ccf", "--frames", "7-12", "--json")
    assert scored["rows"] == SMALL_ROWS // 2 == len(scored["scores"])
    written = tmp_path / "scores.csv"
    run("score", "fraud@champion", "--dataset", "ccf", "--frames", "7-12", "--output", str(written))
    assert sum(1 for _ in written.open()) == SMALL_ROWS // 2 + 1  # header and every score
    truth = tmp_path / "truth.csv"
    truth.write_text("record_id,label\n" + "".join(f"{s['record_id']},0\n" for s in scored["scores"][:5]))
    assert run("label", str(truth), "--json")["imported"] == 5
    assert run("label", "--dataset", "ccf", "--frames", "7-12", "--json")["imported"] == SMALL_ROWS // 2
    rows = run("verify", "fraud@champion", "--frames", "7-12", "--json")["rows"]
    assert rows[-1]["labelled"] == SMALL_ROWS // 2
    assert run("lineage", "fraud@champion", "--json")[0]["kind"] == "model"
    assert len(run("models", "--json")) == 1 and len(run("datasets", "--json")) == 4
    assert "train" in run("perf")
    table = run("verify", "fraud@champion", "--frames", "7-12", "--format", "csv").splitlines()
    assert table[0].startswith("model,frame,scored") and len(table) == 8
    assert "'xgb' is not one of" in run("train", "ccf", "--algorithm", "xgb", expect=2)
    assert "does not exist" in run("report", "nope/1", expect=3)
