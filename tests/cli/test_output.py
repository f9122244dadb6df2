"""Tables never cut a number: at 80 columns, piped, every number of the JSON answer appears whole.

Also: --format csv carries every column in full, and help prints without loading the heavy libraries.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Cli, run


def _cell(value: Any, digits: int = 4) -> str:
    """A number as a table shows it: integers whole, floats to `digits` decimals."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _assert_whole(text: str, numbers: list[str]) -> None:
    tokens = set(text.replace(",", " ").split())
    missing = [n for n in numbers if n not in tokens]
    assert not missing, (missing, text)
    assert "…" not in text and "..." not in text
    assert max(len(line) for line in text.splitlines()) <= 80, text


@pytest.fixture
def scored_store(cli: Cli, small_csv: Path) -> Cli:
    cli("ingest", str(small_csv), "--name", "ccf")
    cli("prepare", "ccf")
    cli("curate", "ccf-prep", "--frames", "1-6", "--name", "ccf-cur")
    cli("train", "ccf-cur", "--weight", "10", "--param", "n_estimators=10")
    cli("persist", "fraud/1")
    cli("score", "fraud@champion", "--dataset", "ccf", "--frames", "7-12")
    cli("label", "--dataset", "ccf", "--frames", "7-12")
    return cli


def test_tables_at_80_columns_keep_every_number_whole(scored_store: Cli) -> None:
    cli = scored_store
    verification = cli("verify", "fraud@champion", "--json")
    kpis = ["scored", "labelled", "unlabelled", "positives", "roc_auc", "report_roc_auc", "pr_auc", "precision",
            "recall", "f1"]  # fmt: skip
    _assert_whole(
        cli("verify", "fraud@champion"), [_cell(row[k]) for row in verification["rows"] for k in ["frame", *kpis]]
    )

    report = cli("report", "fraud/1", "--json")
    rows = [*report["per_frame"].values(), report["overall"]]
    columns = ["rows", "positives", "roc_auc", "pr_auc", "precision", "recall", "f1"]
    _assert_whole(cli("report", "fraud/1"), [_cell(row[k]) for row in rows for k in columns])

    perf = cli("perf", "--json")["summary"]
    numbers = [str(s["calls"]) for s in perf] + [f"{s['median_duration_s']:.3f}" for s in perf]
    numbers += [f"{s['max_peak_rss_mb']:.0f}" for s in perf] + [f"{s['median_cpu_s']:.3f}" for s in perf]
    _assert_whole(cli("perf"), numbers)

    datasets = cli("datasets", "--json")
    _assert_whole(cli("datasets"), [str(d[k]) for d in datasets for k in ("id", "rows", "frames", "version")])

    models = cli("models", "--json")
    numbers = [_cell(m["metrics"]["overall"]["roc_auc"]) for m in models] + [m["id"] for m in models]
    _assert_whole(cli("models"), numbers)


def test_csv_and_json_formats_carry_every_column_in_full(scored_store: Cli) -> None:
    cli = scored_store
    verification = cli("verify", "fraud@champion", "--json")
    assert json.loads(cli("verify", "fraud@champion", "--format", "json")) == verification
    table = list(csv.DictReader(io.StringIO(cli("verify", "fraud@champion", "--format", "csv"))))
    assert len(table) == len(verification["rows"])
    for line, row in zip(table, verification["rows"], strict=True):
        assert float(line["roc_auc"]) == pytest.approx(row["roc_auc"], rel=1e-12)
        assert int(line["scored"]) == row["scored"]
    datasets = list(csv.DictReader(io.StringIO(cli("datasets", "--format", "csv"))))
    assert {d["sha256"] for d in datasets} == {d["sha256"] for d in cli("datasets", "--json")}
    assert len(list(csv.DictReader(io.StringIO(cli("perf", "--format", "csv"))))) >= 6
    refused = cli("verify", "fraud@champion", "--format", "xml", expect=2)
    assert "'xml' is not one of" in refused and "Traceback" not in refused


def test_version_help_and_completion_without_heavy_imports(tmp_path: Path) -> None:
    version = run(["--version"], {})
    from crispml import __version__

    assert version.stdout.strip() == f"crispml {__version__}"
    assert "rf|hgb|lgbm|logreg" in run(["train", "--help"], {"COLUMNS": "120"}).stdout
    assert "median|zero|drop" in run(["prepare", "--help"], {"COLUMNS": "120"}).stdout
    completion = run(["--show-completion", "bash"], {"SHELL": "/bin/bash"})
    assert "_CRISPML_COMPLETE" in completion.stdout or "complete" in completion.stdout

    # A fresh interpreter: importing the app and printing help loads no heavy library.
    probe = (
        "import sys, runpy\n"
        "sys.argv = ['crispml', '--help']\n"
        "try:\n    runpy.run_module('crispml.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('sklearn', 'pandas', 'sqlalchemy', 'numpy', 'httpx', 'lightgbm', 'matplotlib')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert "HEAVY []" in done.stdout, done.stdout[-500:]
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "crispml.cli", "--help"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    imported = {line.split("|")[-1].strip() for line in timed.stderr.splitlines() if "|" in line}
    assert not imported & {"sklearn", "pandas", "sqlalchemy", "lightgbm"}, sorted(imported & {"sklearn", "pandas"})
    assert "ingest" in timed.stdout


def test_the_offered_choices_are_the_ones_the_services_accept() -> None:
    from typing import get_args

    from crispml.cli.options import AlgorithmName, JobStatusName, MissingName, StageName
    from crispml.domain import JobStatus, Stage
    from crispml.steps.algorithms import ALGORITHMS
    from crispml.steps.prepare import MissingPolicy

    assert list(get_args(AlgorithmName)) == list(ALGORITHMS)
    assert set(get_args(MissingName)) == {p.value for p in MissingPolicy}
    assert list(get_args(JobStatusName)) == [s.value for s in JobStatus]
    assert list(get_args(StageName)) == [s.value for s in Stage]
    from crispml.cli.data import REFERENCE_ROWS
    from crispml.steps.synthetic import REFERENCE_ROWS as SYNTHETIC_ROWS

    assert REFERENCE_ROWS == SYNTHETIC_ROWS  # the default of synth and demo, kept without importing numpy
