"""The REST surface as a client meets it: the same answer shapes the schema documents, docs that work
with no network, 405s that name the methods allowed, and input the OS cannot take refused by name.

One server and one trained model serve the module: each test checks what it changed, not the whole store.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

from crispml.client import Client
from crispml.contract.scoring import ScoreBatchAnswer, ScoreBatchPage
from tests.api.conftest import Server


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    return shared_server


@pytest.fixture(scope="module")
def fraud(server: Server) -> Iterator[None]:
    """The champion of model `fraud`, trained on dataset `ccf` over REST (two jobs: ingest and train)."""
    with Client(server.url, timeout=300) as client:
        client.ingest("creditcard.csv", name="ccf")
        client.persist("fraud", client.train("ccf", name="fraud", params={"n_estimators": 5})["version"])
    yield


def test_docs_and_redoc_load_every_asset_from_the_server_itself(server: Server) -> None:
    for page in ("docs", "redoc"):
        html = httpx.get(f"{server.url}/{page}")
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html.text)
        assets += re.findall(r"""url: ?["']([^"']+)["']""", html.text)  # the schema Swagger UI loads
        assert assets and all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        for asset in assets:
            assert httpx.get(f"{server.url}{asset}").status_code == 200, asset


def test_a_method_not_allowed_names_the_allowed_ones(server: Server) -> None:
    answer = httpx.delete(f"{server.url}/api/v1/labels")
    assert answer.status_code == 405 and answer.headers["allow"] == "PUT"
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_nul_byte_in_a_source_path_is_a_422_naming_the_field(server: Server) -> None:
    # Found by schemathesis: the data-folder check answered 500 (ValueError: embedded null byte).
    before = httpx.get(f"{server.url}/api/v1/datasets").json()["total"]
    for path in ("\x00", "creditcard.csv\x00.txt"):
        answer = httpx.post(f"{server.url}/api/v1/datasets", json={"source": {"path": path}})
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == "source.path" and "source.path" in answer.json()["detail"]
    assert httpx.get(f"{server.url}/api/v1/datasets").json()["total"] == before  # nothing was ingested


@pytest.mark.usefixtures("fraud")
def test_score_answers_have_one_shape_and_a_stored_batch_no_replayed(server: Server, small_csv: Path) -> None:
    records = pd.read_csv(small_csv).iloc[:3].drop(columns="Class").to_dict("records")
    hot = httpx.post(f"{server.url}/api/v1/models/fraud/score", json={"records": records}).json()
    keyed = httpx.post(
        f"{server.url}/api/v1/models/fraud/score", json={"records": records}, headers={"Idempotency-Key": "k-1"}
    ).json()
    assert list(hot) == list(keyed) == list(ScoreBatchAnswer.model_fields)
    assert ScoreBatchAnswer.model_validate(hot).model_dump(mode="json") == hot
    job = httpx.post(f"{server.url}/api/v1/models/fraud/score", json={"dataset": "ccf", "frames": "12"},
                     params={"wait": "true", "timeout": 60}).json()  # fmt: skip
    assert list(job["result"]) == list(ScoreBatchAnswer.model_fields) and job["result"]["scores"] is None
    page = httpx.get(f"{server.url}/api/v1/score-batches/{hot['batch_id']}", params={"limit": 2}).json()
    assert list(page) == list(ScoreBatchPage.model_fields) and "replayed" not in page
    assert page["rows"] == 3 and len(page["scores"]) == 2 and page["next"] == 2
    assert page["created_at"] == hot["created_at"] and page["scores"] == hot["scores"][:2]


@pytest.mark.usefixtures("fraud")
def test_every_list_answers_one_envelope(server: Server) -> None:
    envelope = {"items", "total", "limit", "offset", "next"}
    for route in ("datasets", "models", "models/fraud/versions", "jobs", "perf", "models/fraud/lineage",
                  "datasets/ccf/lineage"):  # fmt: skip
        answer = httpx.get(f"{server.url}/api/v1/{route}").json()
        assert envelope <= set(answer) and answer["items"], route
    first = httpx.get(f"{server.url}/api/v1/jobs", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["next"] == 1
    page, pages = first, 1
    while page["next"] is not None and pages < 100:  # one page per job: the last one has no next
        page = httpx.get(f"{server.url}/api/v1/jobs", params={"limit": 1, "offset": page["next"]}).json()
        pages += 1
        assert len(page["items"]) == 1 and page["offset"] == pages - 1
    assert page["next"] is None and pages >= 2  # ingest and train at least
