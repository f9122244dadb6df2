"""The `crispml` command line, end to end, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from crispml.cli import app
from tests.cli.conftest import Cli
from tests.conftest import SMALL_ROWS


def test_synth_writes_csv_zip_and_parquet(tmp_path: Path) -> None:
    runner = CliRunner()
    for name in ("cc.csv", "cc.zip", "cc.parquet"):
        result = runner.invoke(app, ["synth", "--rows", "1200", "--out", str(tmp_path / name)])
        assert result.exit_code == 0, result.stderr
    csv = pd.read_csv(tmp_path / "cc.csv")
    assert len(csv) == 1200 and int(csv["Class"].sum()) == 2
    with zipfile.ZipFile(tmp_path / "cc.zip") as archive:
        assert archive.namelist() == ["creditcard.csv"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "cc.parquet"), csv, check_dtype=False)
    bad = runner.invoke(app, ["synth", "--rows", "100", "--out", str(tmp_path / "cc.xlsx")])
    assert bad.exit_code == 2 and "cc.xlsx" in bad.stderr
    assert not (tmp_path / "cc.xlsx").exists()


def test_the_nine_methods_from_the_command_line(cli: Cli, small_csv: Path, tmp_path: Path) -> None:
    raw = cli("ingest", str(small_csv), "--name", "ccf", "--slices", "12", "--json")
    assert raw["rows"] == SMALL_ROWS and raw["frames"] == 12 and raw["created_by"] == "cli-tester"
    assert {s["column"] for s in raw["report"]["stats"]} >= {"Time", "V1", "Amount"}
    prepared = cli("prepare", "ccf", "--json")
    assert prepared["stage"] == "prepared" and prepared["parent_id"] == raw["id"]
    curated = cli("curate", prepared["id"], "--algorithm", "rf", "--frames", "1-6", "--json")
    model = cli(
        "train", curated["id"], "--algorithm", "rf", "--frames", "1-6", "--weight", "10", "--name", "fraud",
        "--param", "n_estimators=10", "--json",
    )  # fmt: skip
    assert model["version"] == 1 and model["params"]["n_estimators"] == 10 and model["class_weight"] == 10
    report = cli("report", "fraud/1", "--json")
    assert report["frames"] == list(range(7, 13)) and report["overall"]["roc_auc"] > 0.8
    assert "top features" in cli("report", "fraud/1")
    persisted = cli("persist", "fraud/1", "--alias", "champion", "--json")
    assert persisted["aliases"] == ["champion"] and persisted["registered"] is True
    scored = cli("score", "fraud@champion", "--dataset", "ccf", "--frames", "7-12", "--json")
    assert scored["rows"] == SMALL_ROWS // 2 and len(scored["scores"]) == SMALL_ROWS // 2
    out = tmp_path / "scores.csv"
    cli("score", "fraud@champion", "--dataset", "ccf", "--frames", "7", "--output", str(out))
    assert len(pd.read_csv(out)) == SMALL_ROWS // 12
    labels = cli("label", "--dataset", "ccf", "--frames", "7-12", "--json")
    assert labels["imported"] == SMALL_ROWS // 2 and labels["unknown"] == 0
    verification = cli("verify", "fraud@champion", "--frames", "7-12", "--json")
    assert [r["frame"] for r in verification["rows"]] == [7, 8, 9, 10, 11, 12, "all"]
    assert verification["rows"][-1]["labelled"] == SMALL_ROWS // 2
    assert "verification of fraud@champion" in cli("verify", "fraud@champion")
    lineage = cli("lineage", "fraud@champion", "--json")
    assert [n["kind"] for n in lineage] == ["model", "dataset", "dataset", "dataset", "source"]
    assert "ccf/1 (raw)" in cli("lineage", "fraud@champion")
    perf = cli("perf", "--json")
    assert {s["method"] for s in perf["summary"]} >= {"ingest", "prepare", "curate", "train", "score", "verify"}
    assert "train" in cli("perf", "--method", "train")
    assert len(cli("datasets", "--json")) == 3 and len(cli("models", "fraud", "--json")) == 1


def test_errors_are_one_red_line_and_an_exit_code(cli: Cli, small_csv: Path) -> None:
    assert "does not exist" in cli("ingest", "nope.csv", expect=3)
    assert "'Nope'" in cli("ingest", str(small_csv), "--target", "Nope", expect=2)
    cli("ingest", str(small_csv), "--name", "ccf")
    assert "'xgb' is not one of" in cli("train", "ccf", "--algorithm", "xgb", expect=2)
    assert "unknown parameter 'trees'" in cli("train", "ccf", "--param", "trees=3", expect=2)
    assert "key=value" in cli("train", "ccf", "--param", "trees", expect=2)
    assert "frames 1..12" in cli("train", "ccf", "--frames", "1-13", expect=2)
    assert "Traceback" not in cli("score", "nope@champion", "--dataset", "ccf", expect=3)
    assert cli("models", "--json") == []


def test_demo_runs_the_reference_scenario(tmp_path: Path) -> None:
    """The console script itself, in a real process, on a small data set."""
    env = {**os.environ, "CRISPML_HOME": str(tmp_path / "home")}
    env.pop("CRISPML_DATABASE_URL", None)
    crispml = Path(sys.executable).with_name("crispml")
    done = subprocess.run(
        [str(crispml), "demo", "--rows", "24000", "--param", "n_estimators=10", "--json"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["model"] == "fraud/1"
    rows = {r["frame"]: r for r in result["verification"]}
    assert set(rows) == {7, 8, 9, 10, 11, 12, "all"}
    assert rows["all"]["scored"] == rows["all"]["labelled"] == 12_000 and rows["all"]["roc_auc"] > 0.8


def test_synth_drifts_from_a_frame_on(tmp_path: Path) -> None:
    runner = CliRunner()
    plain, drifted = tmp_path / "plain.parquet", tmp_path / "drifted.parquet"
    assert runner.invoke(app, ["synth", "--rows", "2400", "--out", str(plain)]).exit_code == 0
    result = runner.invoke(
        app,
        [
            "synth",
            "--rows",
            "2400",
            "--out",
            str(drifted),
            "--drift-from",
            "7",
            "--shift",
            "V3=1.5",
            "--fraud-rate",
            "x2",
            "--pattern",
            "swap",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert "drifting from frame 7" in result.stdout
    before, after = pd.read_parquet(plain), pd.read_parquet(drifted)
    assert after.iloc[:1200].equals(before.iloc[:1200])
    assert after["V3"].iloc[1200:].mean() > before["V3"].iloc[1200:].mean() + 1.0
    assert int(after["Class"].iloc[1200:].sum()) == 2 * int(before["Class"].iloc[1200:].sum())
    for bad, message in (
        (["--shift", "V3=1.5"], "need --drift-from"),
        (["--drift-from", "7", "--shift", "V3=lots"], "'lots' is not a number"),
        (["--drift-from", "7", "--fraud-rate", "double"], "must be a multiplier"),
        (["--drift-from", "0"], "out of range 1..12"),
    ):
        refused = runner.invoke(app, ["synth", "--rows", "2400", "--out", str(tmp_path / "bad.csv"), *bad])
        assert refused.exit_code == 2 and message in refused.stderr, refused.stderr
        assert not (tmp_path / "bad.csv").exists()
