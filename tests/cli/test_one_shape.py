"""One JSON shape per resource: `--json` locally, `--json --remote` and the REST answer agree key for key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from crispml.client import Client
from tests.api.conftest import Server
from tests.cli.conftest import run


def shape(value: Any) -> Any:
    """The keys of every object in `value`, nested; a list is the shape of its first item."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items()) if k not in ("params", "report", "detail", "metrics")}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if value is not None else None


def same_shape(local: Any, remote: Any) -> bool:
    """Shapes equal, where a null on one side matches any value on the other (an empty list any list)."""
    if local is None or remote is None or local == [] or remote == []:
        return True
    if isinstance(local, dict) and isinstance(remote, dict):
        return local.keys() == remote.keys() and all(same_shape(local[k], remote[k]) for k in local)
    if isinstance(local, list) and isinstance(remote, list):
        return same_shape(local[0], remote[0])
    if isinstance(local, str) and isinstance(remote, str):
        return local == remote or {local, remote} <= {"int", "float"}
    return False


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_answer_has_one_shape_locally_remotely_and_over_rest(
    server: Server, client: Client, small_csv: Path, tmp_path: Path
) -> None:
    local_env: dict[str, str | None] = {"CRISPML_HOME": str(tmp_path / "local"), "CRISPML_DATABASE_URL": None}
    records = tmp_path / "new.csv"
    records.write_text("\n".join(small_csv.read_text().splitlines()[:6]))

    def both(*args: str) -> tuple[Any, Any]:
        local = run([*args, "--json"], local_env).json
        remote = run([*args, "--json", "--remote", server.url], {}).json
        return local, remote

    answers: dict[str, tuple[Any, Any]] = {"ingest": both("ingest", str(small_csv), "--name", "ccf")}
    answers["prepare"] = both("prepare", "ccf", "--name", "ccf-prep")
    answers["curate"] = both("curate", "ccf-prep", "--frames", "1-6", "--name", "ccf-cur")
    answers["train"] = both("train", "ccf-cur", "--frames", "1-6", "--param", "n_estimators=5", "--name", "fraud")
    answers["persist"] = both("persist", "fraud/1", "--alias", "champion")
    answers["report"] = both("report", "fraud/1")
    answers["score records"] = both("score", "fraud@champion", "--file", str(records))
    answers["score dataset"] = both("score", "fraud@champion", "--dataset", "ccf", "--frames", "12")
    answers["label"] = both("label", "--dataset", "ccf", "--frames", "12")
    answers["verify"] = both("verify", "fraud@champion")
    answers["lineage"] = both("lineage", "fraud@champion")
    answers["dataset lineage"] = both("lineage", "ccf-cur")
    answers["datasets"] = both("datasets")
    answers["models"] = both("models")
    answers["perf"] = both("perf")
    for method, (local, remote) in answers.items():
        assert same_shape(shape(local), shape(remote)), (method, shape(local), shape(remote))

    # The remote answers are the REST answers: check one of each kind against the client directly.
    rest_score = client.score("fraud", records=[{k: v for k, v in r.items() if k != "Class"} for r in _rows(records)])
    assert same_shape(shape(answers["score records"][0]), shape(rest_score))
    assert shape(answers["score records"][0])["scores"] == [
        {"decision": "int", "frame": None, "record_id": "str", "score": "float"}
    ]
    assert set(answers["score records"][0]) == {
        "batch_id", "model", "rows", "flagged", "created_at", "replayed", "scores", "imputed", "fallback_reason"
    }  # fmt: skip
    assert answers["score records"][0]["created_at"].endswith("+00:00")  # the time zone kept on SQLite


def _rows(path: Path) -> list[dict[str, float]]:
    lines = path.read_text().splitlines()
    header = [c.strip('"') for c in lines[0].split(",")]
    return [dict(zip(header, map(float, line.split(",")), strict=True)) for line in lines[1:]]
