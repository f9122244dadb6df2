"""The reference service's routes answer as the reference did, so its clients work unchanged."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest

from tests.api.conftest import Server
from tests.conftest import SMALL_ROWS


def rows(response: httpx.Response) -> list[dict[str, object]]:
    """What the Shiny console does: content(GET(...))[[1]], then fromJSON."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1 and isinstance(body[0], str)
    decoded: list[dict[str, object]] = json.loads(body[0])
    return decoded


def test_rep_data_ingest_answers_r_summary_of_numeric_columns(server: Server, home: Path) -> None:
    summary = rows(httpx.get(f"{server.url}/crispml/repDataIngest", params={"slices": 12, "percentData": 0.5},
                             timeout=120))  # fmt: skip
    assert [r["_row"] for r in summary] == ["Min.", "1st Qu.", "Median", "Mean", "3rd Qu.", "Max."]
    assert list(summary[0])[:-1] == ["Time", *[f"V{i}" for i in range(1, 29)], "Amount"]
    dataset = httpx.get(f"{server.url}/api/v1/datasets/CCF_ING").json()
    assert dataset["rows"] == SMALL_ROWS // 2 and dataset["frames"] == 12
    sample = pd.read_parquet(home / "artifacts" / "datasets" / f"{dataset['sha256']}.parquet")
    assert summary[0]["Amount"] == pytest.approx(round(sample["Amount"].min(), 4))
    assert summary[2]["V3"] == pytest.approx(round(sample["V3"].median(), 4))
    assert summary[3]["Time"] == pytest.approx(round(sample["Time"].mean(), 4))


def test_the_reference_routes_run_the_whole_cycle(server: Server) -> None:
    def get(route: str, **params: object) -> list[dict[str, object]]:
        return rows(httpx.get(f"{server.url}/crispml/{route}", params=params, timeout=300))

    get("repDataIngest", slices=12, percentData=1)
    prepared = {r["measure"]: r["value"] for r in get("repDataPrepare")}
    assert prepared["rows_out"] == SMALL_ROWS
    get("repDataCurate")
    trained = get("repModelTrain", table="CCF_CUR", **{"from": 1, "to": 6}, model="rf", weight=10)
    assert trained[0]["model"] == "CCF_RF/1" and trained[0]["weight"] == 10
    assert [r["frame"] for r in get("repModelReport")] == [str(f) for f in range(7, 13)]
    assert get("repModelPersist")[0]["model"] == "CCF_RF/1"
    scored = get("repNewDataScore", table="CCF_ING", **{"from": 7, "to": 12})
    assert scored[0]["rows"] == SMALL_ROWS // 2
    assert get("repNewDataLabel", **{"from": 7, "to": 12})[0]["imported"] == SMALL_ROWS // 2
    report = get("repNewDataReport", **{"from": 7, "to": 12})
    assert [r["frame"] for r in report] == [7, 8, 9, 10, 11, 12, "all"]
    assert report[-1]["labelled"] == SMALL_ROWS // 2


def test_a_k6_style_loop_of_rep_model_train(server: Server) -> None:
    """Virtual users hammering repModelTrain, as the reference's load test did: every call answers 200
    and every call makes its own model version."""
    httpx.get(f"{server.url}/crispml/repDataIngest", params={"percentData": 0.2}, timeout=120).raise_for_status()
    httpx.get(f"{server.url}/crispml/repDataPrepare", timeout=120).raise_for_status()
    httpx.get(f"{server.url}/crispml/repDataCurate", timeout=120).raise_for_status()

    def iteration(_: int) -> int:
        response = httpx.get(
            f"{server.url}/crispml/repModelTrain",
            params={"table": "CCF_CUR", "from": 1, "to": 6, "model": "rf", "weight": 10},
            timeout=300,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=3) as users:
        statuses = list(users.map(iteration, range(9)))
    assert statuses == [200] * 9
    versions = httpx.get(f"{server.url}/api/v1/models/CCF_RF/versions").json()
    assert sorted(v["version"] for v in versions["items"]) == list(range(1, 10)) and versions["total"] == 9
    perf = httpx.get(f"{server.url}/api/v1/perf", params={"method": "train"}).json()
    assert perf["summary"][0]["calls"] == 9 and perf["summary"][0]["errors"] == 0
