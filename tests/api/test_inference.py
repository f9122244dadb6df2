"""Open Inference Protocol v2 and MLflow's /invocations answer like crispml's own route, and persist."""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest

from crispml.client import Client
from tests.api.conftest import Server

FEATURES = ["Time", *[f"V{i}" for i in range(1, 29)], "Amount"]


@pytest.fixture
def records(client: Client, small_csv: Path) -> pd.DataFrame:
    client.ingest("creditcard.csv", name="ccf")
    model = client.train("ccf", name="fraud", weight=10, params={"n_estimators": 10})
    client.persist("fraud", model["version"])
    return pd.read_csv(small_csv).iloc[20_000:20_040][FEATURES].reset_index(drop=True)


def own_scores(client: Client, records: pd.DataFrame) -> list[float]:
    return [s["score"] for s in client.score("fraud", records=records.to_dict("records"))["scores"]]


def test_oip_v2_metadata_readiness_and_inference(server: Server, client: Client, records: pd.DataFrame) -> None:
    assert httpx.get(f"{server.url}/v2/health/ready").json() == {"ready": True}
    meta = httpx.get(f"{server.url}/v2/models/fraud").json()
    assert [i["name"] for i in meta["inputs"]] == FEATURES and meta["versions"] == ["1"]
    assert httpx.get(f"{server.url}/v2/models/fraud/versions/1/ready").json()["ready"] is True
    by_column = {
        "inputs": [{"name": c, "shape": [40], "datatype": "FP64", "data": records[c].tolist()} for c in FEATURES]
    }
    answer = httpx.post(f"{server.url}/v2/models/fraud/infer", json=by_column).json()
    outputs = {o["name"]: o for o in answer["outputs"]}
    assert answer["model_version"] == "1" and outputs["score"]["shape"] == [40]
    assert outputs["score"]["data"] == pytest.approx(own_scores(client, records))
    rows = {"inputs": [{"name": "input-0", "shape": [40, 30], "datatype": "FP64",
                        "data": records.to_numpy().ravel().tolist()}]}  # fmt: skip
    as_rows = httpx.post(f"{server.url}/v2/models/fraud/versions/1/infer", json=rows).json()
    assert as_rows["outputs"][0]["data"] == pytest.approx(outputs["score"]["data"])
    assert client.batch(as_rows["parameters"]["batch_id"])["rows"] == 40  # persisted
    bad = httpx.post(f"{server.url}/v2/models/fraud/infer", json={"inputs": by_column["inputs"][1:]})
    assert bad.status_code == 422 and "'Time'" in bad.json()["detail"]
    assert httpx.get(f"{server.url}/v2/models/nope").status_code == 404


def test_mlflow_invocations_in_its_three_formats(server: Server, client: Client, records: pd.DataFrame) -> None:
    expected = own_scores(client, records)
    bodies = [
        {"dataframe_split": {"columns": FEATURES, "data": records.to_numpy().tolist()}},
        {"dataframe_records": records.to_dict("records")},
        {"inputs": records.to_numpy().tolist()},
    ]
    for body in bodies:
        answer = httpx.post(f"{server.url}/invocations", json=body).json()
        assert answer["scores"] == pytest.approx(expected)
        assert answer["predictions"] == [int(s >= 0.5) for s in answer["scores"]]
        assert client.batch(answer["batch_id"])["rows"] == 40
    bad = httpx.post(f"{server.url}/invocations", json={"something": []})
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
