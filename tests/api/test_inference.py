"""Open Inference Protocol v2 and MLflow's /invocations answer like crispml's own route, and persist.

One server and one champion serve the module; the test of a server without a champion starts its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

import crispml
from crispml.client import Client
from tests.api.conftest import Server

FEATURES = ["Time", *[f"V{i}" for i in range(1, 29)], "Amount"]


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    return shared_server


@pytest.fixture(scope="module")
def records(server: Server, small_csv: Path) -> Iterator[pd.DataFrame]:
    with Client(server.url, timeout=300) as client:
        client.ingest("creditcard.csv", name="ccf")
        model = client.train("ccf", name="fraud", weight=10, params={"n_estimators": 10})
        client.persist("fraud", model["version"])
    yield pd.read_csv(small_csv).iloc[20_000:20_040][FEATURES].reset_index(drop=True)


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


def test_oip_v2_server_metadata_and_its_error_body_on_every_failure(server: Server, records: pd.DataFrame) -> None:
    assert httpx.get(f"{server.url}/v2").json() == {"name": "crispml", "version": crispml.__version__, "extensions": []}
    columns = [{"name": c, "shape": [40], "datatype": "FP64", "data": records[c].tolist()} for c in FEATURES[1:]]
    failures = [
        (httpx.post(f"{server.url}/v2/models/fraud/infer", json={"inputs": columns}), 422, "'Time'"),
        (httpx.post(f"{server.url}/v2/models/fraud/infer", json={"inputs": "x"}), 422, "inputs"),
        (httpx.post(f"{server.url}/v2/models/fraud/infer", json={"inputs": [*columns, {"name": "Time", "shape": [40],
         "datatype": "FP64", "data": records["Time"].tolist()}, {"name": "record_id", "shape": [3],
         "datatype": "BYTES", "data": ["a", "b", "c"]}]}), 422, "same"),
        (httpx.post(f"{server.url}/v2/models/fraud/infer", content=b"{", headers={"content-type": "application/json"}),
         422, ""),
        (httpx.get(f"{server.url}/v2/models/nope"), 404, "nope"),
        (httpx.get(f"{server.url}/v2/models/fraud/versions/7/ready"), 404, "fraud"),
        (httpx.get(f"{server.url}/v2/no/such/route"), 404, "Not Found"),
        (httpx.delete(f"{server.url}/v2"), 405, "Method Not Allowed"),
    ]  # fmt: skip
    for answer, status, named in failures:
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"] == "application/json" and list(answer.json()) == ["error"], answer.text
        assert named in answer.json()["error"]


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


def test_mlflow_csv_bodies_and_its_ping_health_and_version(
    server: Server, client: Client, records: pd.DataFrame
) -> None:
    expected = own_scores(client, records)
    csv = records.to_csv(index=False).encode()
    answer = httpx.post(f"{server.url}/invocations", content=csv, headers={"content-type": "text/csv; charset=utf-8"})
    assert answer.status_code == 200 and answer.json()["scores"] == pytest.approx(expected)
    assert client.batch(answer.json()["batch_id"])["rows"] == 40
    for broken in (b"", b"\xff\xfe\x00"):
        refused = httpx.post(f"{server.url}/invocations", content=broken, headers={"content-type": "text/csv"})
        assert refused.status_code == 422 and refused.json()["field"] == "body", refused.text
    other = httpx.post(f"{server.url}/invocations", content=b"<x/>", headers={"content-type": "application/xml"})
    assert other.status_code == 422 and "text/csv" in other.json()["detail"]
    for probe in ("ping", "health"):
        assert httpx.get(f"{server.url}/{probe}").status_code == 200
    assert httpx.get(f"{server.url}/version").text == crispml.__version__


def test_mlflow_ping_says_when_there_is_no_champion_to_answer(make_server: Callable[..., Server]) -> None:
    server = make_server().start()  # a fresh store: no model at all
    for probe in ("ping", "health"):
        answer = httpx.get(f"{server.url}/{probe}")
        assert answer.status_code == 404 and "no champion of model 'fraud'" in answer.json()["detail"]
