"""The same values get the same record id whatever route they come by, so every score meets its label
(docs/record-ids.md): records, records carrying numbers as text, OIP tensors flat and per column, MLflow's
four bodies, a CSV file scored from the command line, and the dataset itself."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest

from crispml.client import Client
from tests.api.conftest import Server
from tests.cli.conftest import run
from tests.conftest import SMALL_ROWS

FEATURES = ["Time", *[f"V{i}" for i in range(1, 29)], "Amount"]
ROWS = 6


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_route_gives_the_dataset_s_record_ids(
    server: Server, client: Client, small_csv: Path, home: Path, tmp_path: Path
) -> None:
    client.ingest("creditcard.csv", name="ccf", slices=12)
    model = client.train("ccf", name="fraud", weight=10, params={"n_estimators": 5})
    client.persist("fraud", model["version"])
    # Frame 12 holds the file's last rows in order: the dataset's own ids of its first rows.
    scored = client.score("fraud", dataset="ccf", frames="12")
    expected = [s["record_id"] for s in client.batch(scored["batch_id"], limit=ROWS)["scores"]]
    first = SMALL_ROWS - SMALL_ROWS // 12
    rows = pd.read_csv(small_csv).iloc[first : first + ROWS][FEATURES].reset_index(drop=True)
    values = rows.to_numpy()

    def ids_of(batch_id: str) -> list[str]:
        return [s["record_id"] for s in client.batch(batch_id, limit=ROWS)["scores"]]

    def post(path: str, **kwargs: object) -> dict[str, object]:
        answer = httpx.post(f"{server.url}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    as_text = [{k: str(v) for k, v in record.items()} for record in rows.to_dict("records")]
    routes: dict[str, list[str]] = {
        "records": [s["record_id"] for s in client.score("fraud", records=rows.to_dict("records"))["scores"]],
        "records with numbers as text": [s["record_id"] for s in client.score("fraud", records=as_text)["scores"]],
    }
    flat = {"inputs": [{"name": "input-0", "shape": [ROWS, len(FEATURES)], "datatype": "FP64",
                        "data": values.ravel().tolist()}]}  # fmt: skip
    per_column = {"inputs": [{"name": c, "shape": [ROWS], "datatype": "FP64", "data": rows[c].tolist()}
                             for c in FEATURES]}  # fmt: skip
    for label, body in (("OIP flat tensor", flat), ("OIP tensor per column", per_column)):
        outputs = {o["name"]: o["data"] for o in post("/v2/models/fraud/infer", json=body)["outputs"]}  # type: ignore[attr-defined]
        routes[label] = outputs["record_id"]
    mlflow_bodies = {
        "MLflow dataframe_split": {"json": {"dataframe_split": {"columns": FEATURES, "data": values.tolist()}}},
        "MLflow dataframe_records": {"json": {"dataframe_records": rows.to_dict("records")}},
        "MLflow inputs": {"json": {"inputs": values.tolist()}},
        "MLflow CSV": {"content": rows.to_csv(index=False), "headers": {"content-type": "text/csv"}},
    }
    for label, kwargs in mlflow_bodies.items():
        routes[label] = ids_of(str(post("/invocations", **kwargs)["batch_id"]))
    csv = tmp_path / "new.csv"
    csv.write_text(rows.to_csv(index=False))
    local = run(["score", "fraud@champion", "--file", str(csv), "--json"], {"CRISPML_HOME": str(home)}).json
    routes["CSV file (CLI)"] = [s["record_id"] for s in local["scores"]]
    remote = run(["score", "fraud@champion", "--file", str(csv), "--json", "--remote", server.url], {}).json
    routes["CSV file (CLI --remote)"] = [s["record_id"] for s in remote["scores"]]

    for label, ids in routes.items():
        assert ids == expected, label
    keyed = rows.assign(record_id=[f"0{i}2345678901234{i}" for i in range(ROWS)])
    csv_body = {"content": keyed.to_csv(index=False), "headers": {"content-type": "text/csv"}}
    assert ids_of(str(post("/invocations", **csv_body)["batch_id"])) == keyed["record_id"].tolist()
    keyed = rows.assign(record_id=[f"0{i}2345678901234{i}" for i in range(ROWS)])
    csv_body = {"content": keyed.to_csv(index=False), "headers": {"content-type": "text/csv"}}
    assert ids_of(str(post("/invocations", **csv_body)["batch_id"])) == keyed["record_id"].tolist()
    # And so every one of those scores meets its label.
    client.label(dataset="ccf", frames="12")
    rows_out = client.verify("fraud@champion", frames="12")["rows"]
    overall = rows_out[-1]
    assert overall["frame"] == "all" and overall["unlabelled"] == 0
