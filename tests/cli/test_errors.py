"""What goes wrong is one line with the documented exit code (or one JSON object under --json).

Exit codes: 2 bad input or setting, 3 not found, 4 conflict, 7 unavailable, 8 port in use.
"""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from tests.api.conftest import free_port
from tests.cli.conftest import Cli, Ran, run


def _one_line(ran: Ran) -> str:
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in ran.text, ran.text
    assert lines[0].startswith("error: ")
    return lines[0]


def test_settings_errors_are_one_line(tmp_path: Path) -> None:
    home = {"CRISPML_HOME": str(tmp_path / "home"), "CRISPML_DATABASE_URL": None}
    line = _one_line(run(["datasets"], {**home, "CRISPML_JOB_WORKERS": "many"}, expect=2))
    assert "CRISPML_JOB_WORKERS" in line and "integer" in line

    scheme = run(["models"], {**home, "CRISPML_DATABASE_URL": "mysql://crispml:s3cret@db.example/x"}, expect=2)
    line = _one_line(scheme)
    assert "unsupported database URL scheme 'mysql'" in line and "s3cret" not in scheme.text

    as_json = run(["models", "--json"], {**home, "CRISPML_WARM_UP_MODELS": "-1"}, expect=2)
    error = as_json.json["error"]
    assert error["title"] == "InvalidInput" and error["type"] == "/problems/invalid-input"
    assert error["field"] == "CRISPML_WARM_UP_MODELS" and error["exit_code"] == 2 and as_json.stderr == ""


def test_an_unreachable_database_is_one_line_with_exit_code_7(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://crispml:s3cret@127.0.0.1:{free_port()}/nothing"
    ran = run(["datasets"], {"CRISPML_HOME": str(tmp_path / "home"), "CRISPML_DATABASE_URL": url}, expect=7)
    line = _one_line(ran)
    assert "cannot reach the database" in line and "Connection refused" in line and "s3cret" not in ran.text


def test_a_failing_source_query_or_a_database_url_is_one_line(cli: Cli, tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE t (a REAL, Class INTEGER)")
    cli("sources", "add", "lite", f"sqlite:///{source}")
    failing = cli("ingest", "--source", "lite", "--query", "SELECT nonsense", expect=2)
    assert failing.count("\n") == 1 and "no such column: nonsense" in failing and "Traceback" not in failing
    refused = cli("ingest", "--url", "nosuchdb://user:s3cret@host/db", "--table", "t", expect=2)
    assert refused.count("\n") == 1 and "s3cret" not in refused and "crispml sources add" in refused
    as_json = cli("ingest", "--source", "lite", "--query", "SELECT nonsense", "--json", expect=2)
    assert '"title": "InvalidInput"' in as_json and '"field": "source"' in as_json
    assert cli("datasets", "--json") == []  # nothing was written


def test_refused_choices_and_not_found_under_json(cli: Cli, store_env: dict[str, str | None]) -> None:
    line = _one_line(run(["prepare", "ccf", "--missing", "mean"], store_env, expect=2))
    assert "'mean' is not one of 'median', 'zero', 'drop'" in line and "prepare --help" in line
    assert "No such option: --nope" in _one_line(run(["train", "ccf", "--nope"], store_env, expect=2))
    refused = run(["prepare", "ccf", "--missing", "mean", "--json"], store_env, expect=2).json["error"]
    assert "'mean' is not one of" in refused["detail"] and refused["field"] == "missing"
    missing = cli("report", "nope/1", "--json", expect=3)
    assert '"title": "NotFound"' in missing and '"exit_code": 3' in missing


def test_an_unreachable_server_is_one_line_naming_its_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = _one_line(run(["models", "--remote", url], {"CRISPML_HOME": str(tmp_path)}, expect=7))
    assert url in line and "refused" in line.lower()


def test_serve_on_a_busy_port_says_so_with_exit_code_8(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        ran = run(["serve", "--port", str(port)], {"CRISPML_HOME": str(tmp_path)}, expect=8)
    line = _one_line(ran)
    assert f"port {port}" in line and "in use" in line


@pytest.mark.parametrize("value", ["0", "nope"])
def test_serve_refuses_a_bad_setting_before_listening(tmp_path: Path, value: str) -> None:
    env = {"CRISPML_HOME": str(tmp_path), "CRISPML_JOB_WORKERS": value}
    assert "CRISPML_JOB_WORKERS" in _one_line(run(["serve", "--port", str(free_port())], env, expect=2))
