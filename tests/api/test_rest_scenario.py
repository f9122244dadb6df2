"""The reference scenario over HTTP against a real uvicorn process, through the Python client."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from crispml.client import AsyncClient, Client
from crispml.errors import Conflict, Forbidden, InvalidInput, NotFound
from tests.api.conftest import Server
from tests.conftest import SMALL_ROWS

HALF = SMALL_ROWS // 2


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_nine_methods_over_http(client: Client) -> None:
    raw = client.ingest("creditcard.csv", name="ccf", slices=12)
    assert raw["rows"] == SMALL_ROWS and raw["created_by"] == "api-tester"
    prepared = client.prepare("ccf")
    curated = client.curate(prepared["id"], algorithm="rf", frames="1-6")
    model = client.train(curated["id"], name="fraud", weight=10, params={"n_estimators": 10})
    assert model["version"] == 1 and model["metrics"]["overall"]["rows"] == HALF
    report = client.report("fraud", 1)
    assert report["frames"] == list(range(7, 13)) and 0.5 < report["overall"]["roc_auc"] <= 1
    assert client.persist("fraud", 1)["aliases"] == ["champion"]
    batch = client.score("fraud", dataset="ccf", frames="7-12")
    assert batch["rows"] == HALF and batch["model"] == "fraud/1"
    page = client.batch(batch["batch_id"], limit=5, offset=10)
    assert len(page["scores"]) == 5 and page["rows"] == HALF
    labels = client.label(dataset="ccf", frames="7-12")
    assert labels["imported"] == HALF and labels["unknown"] == 0
    verification = client.verify("fraud@champion", frames="7-12")
    overall = verification["rows"][-1]
    assert overall["frame"] == "all" and overall["scored"] == overall["labelled"] == HALF
    assert overall["roc_auc"] == pytest.approx(overall["report_roc_auc"])
    lineage = client.lineage("fraud", alias="champion")
    assert [n["kind"] for n in lineage["items"]] == ["model", "dataset", "dataset", "dataset", "source"]
    assert {s["method"] for s in client.perf()["summary"]} >= {"ingest", "train", "score", "verify"}


def test_records_are_scored_and_persisted_at_once(client: Client, small_csv: Path) -> None:
    _champion(client)
    import pandas as pd

    records = pd.read_csv(small_csv).iloc[HALF : HALF + 20].drop(columns="Class").to_dict("records")
    first = client.score("fraud", records=records, idempotency_key="req-1")
    assert len(first["scores"]) == 20 and not first["replayed"]
    retried = client.score("fraud", records=records, idempotency_key="req-1")
    assert retried["replayed"] and retried["batch_id"] == first["batch_id"]
    assert [s["score"] for s in retried["scores"]] == [s["score"] for s in first["scores"]]
    with pytest.raises(Conflict, match="req-1"):
        client.score("fraud", records=records[:3], idempotency_key="req-1")
    stored = client.batch(first["batch_id"])
    assert [s["record_id"] for s in stored["scores"]] == [s["record_id"] for s in first["scores"]]
    late = client.label([{"record_id": first["scores"][0]["record_id"], "label": 1}, {"record_id": "x", "label": 0}])
    assert late["imported"] == 2 and late["unknown"] == 1
    # A stored score is the very float answered, and the batch holds the same rows in the same order.
    assert [s["score"] for s in stored["scores"]] == [s["score"] for s in first["scores"]]


def test_malformed_score_bodies_are_named_problems(server: Server, client: Client) -> None:
    _champion(client)
    score = f"{server.url}/api/v1/models/fraud/score"
    broken = httpx.post(score, content=b'{"records": [{"V1": 1.0,}', headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.headers["content-type"].startswith("application/problem+json")
    for records, named in (([1, 2], "list of objects"), ([], "no records"), ([{"V1": "x"}], "'Time'")):
        answer = httpx.post(score, json={"records": records})
        assert answer.status_code == 422 and named in answer.json()["detail"], answer.text


def test_errors_are_problem_json(server: Server, client: Client) -> None:
    def problem(response: httpx.Response, status: int) -> dict[str, object]:
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body: dict[str, object] = response.json()
        assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status
        return body

    assert "ccf" in str(problem(httpx.get(f"{server.url}/api/v1/datasets/ccf"), 404)["detail"])
    wrong = httpx.post(f"{server.url}/api/v1/datasets", json={"source": {"path": "creditcard.csv"}, "slices": 0})
    assert problem(wrong, 422)["field"] == "slices"
    with pytest.raises(Forbidden, match="outside the data folder"):
        client.ingest("../../../etc/passwd")
    with pytest.raises(NotFound, match=r"missing\.csv"):
        client.ingest("missing.csv")
    client.ingest("creditcard.csv", name="ccf")
    with pytest.raises(InvalidInput, match="'Nope'"):
        client.ingest("creditcard.csv", target="Nope")
    with pytest.raises(InvalidInput, match="unknown algorithm 'xgb'"):
        client.train("ccf", name="m", algorithm="xgb")
    with pytest.raises(InvalidInput, match=r"frame range .1-13. is out of range: the dataset has frames 1\.\.12"):
        client.train("ccf", name="m", frames="1-13", params={"n_estimators": 5})
    assert client.models() == {"items": [], "total": 0, "limit": 100, "offset": 0, "next": None}


def test_async_client(server: Server) -> None:
    async def scenario() -> tuple[int, int]:
        async with AsyncClient(server.url) as api:
            raw = await api.ingest("creditcard.csv", name="ccf")
            model = await api.train(raw["id"], name="fraud", params={"n_estimators": 5})
            await api.persist("fraud", model["version"])
            scored = await api.score("fraud", dataset="ccf", frames="12")
            return raw["rows"], scored["rows"]

    assert asyncio.run(scenario()) == (SMALL_ROWS, SMALL_ROWS // 12)


def _champion(client: Client) -> None:
    client.ingest("creditcard.csv", name="ccf")
    model = client.train("ccf", name="fraud", weight=10, params={"n_estimators": 10})
    client.persist("fraud", model["version"])
