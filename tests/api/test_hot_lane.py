"""The hot lane (`crispml.api.hot_lane`): one-record score requests answered below FastAPI's routing.

Through the app's real ASGI stack (in-process), on a store with a champion: what the lane answers is
what the route answers; what it declines reaches the route with its body intact and gets the route's
own answers and errors; with keys on, it serves only a key verified lately whose role may score, and
the batch is written as that principal.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from crispml.api.app import create_app
from crispml.api.auth import authorize
from crispml.domain import AuditQuery
from crispml.errors import Forbidden
from crispml.local import Crispml
from crispml.settings import Settings
from tests.api.test_authorization import keys_of

SCORE = "/api/v1/models/fraud/score"


@pytest.fixture
def record(small_csv: Path) -> dict[str, Any]:
    row = pd.read_csv(small_csv, nrows=1).drop(columns=["Class"])
    return {k: float(v) for k, v in row.iloc[0].items()}


def app_over(cml: Crispml, **settings: Any) -> TestClient:
    return TestClient(create_app(Settings(home=cml.settings.home, database_url=cml.settings.database_url, **settings)))


@pytest.fixture
def http(trained: Crispml) -> Iterator[TestClient]:
    with app_over(trained) as client:
        yield client


def test_the_lane_and_the_route_answer_alike(http: TestClient, record: dict[str, Any]) -> None:
    # A query string sends a request to the route, which also reads the model into memory for the lane.
    routed = http.post(SCORE, params={"alias": "champion"}, json={"records": [record]})
    hot = http.post(SCORE, json={"records": [record]})
    assert hot.status_code == routed.status_code == 200, (hot.text, routed.text)
    assert hot.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert hot.headers["x-request-id"] and hot.headers["x-request-id"] != routed.headers["x-request-id"]
    a, b = hot.json(), routed.json()
    assert a.keys() == b.keys()
    assert a["batch_id"] != b["batch_id"] and a["model"] == b["model"] == "fraud/1"
    assert a["scores"] == b["scores"] and a["rows"] == 1 and a["replayed"] is False
    stored = http.get(f"/api/v1/score-batches/{a['batch_id']}").json()
    assert stored["scores"] == a["scores"] and stored["batch_id"] == a["batch_id"]


def test_the_lane_answers_without_the_route(trained: Crispml, record: dict[str, Any]) -> None:
    """With the route's authorization made to refuse everything, the hot request is still answered (by the
    lane) while the same request with a query string reaches the route and is refused."""
    app = create_app(Settings(home=trained.settings.home))

    def refuse() -> None:
        raise Forbidden("the route was reached")

    with TestClient(app) as client:
        # The lane serves models in memory only: the first request (the route) reads the champion.
        assert client.post(SCORE, json={"records": [record]}).status_code == 200
        app.dependency_overrides[authorize] = refuse
        assert client.post(SCORE, json={"records": [record]}).status_code == 200
        refused = client.post(SCORE, params={"alias": "champion"}, json={"records": [record]})
    assert refused.status_code == 403 and refused.json()["detail"] == "the route was reached"


@pytest.mark.parametrize(
    ("path", "body", "status", "detail"),
    [
        ("/api/v1/models/nobody/score", {"records": [{}]}, 404, "nobody"),
        (SCORE, {"records": [{"V1": "high"}]}, 422, "V1"),
        (SCORE, {"records": [{}], "extra": 1}, 422, "extra"),
        (SCORE, {"records": {"V1": 1.0}}, 422, "records"),
        (SCORE, {"records": []}, 422, "records"),
        (f"/api/v1/models/{'m' * 65}/score", {"records": [{}]}, 422, "name"),
    ],
)
def test_what_the_lane_declines_gets_the_routes_answer(
    http: TestClient, path: str, body: dict[str, Any], status: int, detail: str
) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert detail in problem["detail"] or detail == problem.get("field"), problem


def test_a_body_that_is_not_json_gets_the_routes_answer(http: TestClient) -> None:
    answer = http.post(SCORE, content=b'{"records": [', headers={"content-type": "application/json"})
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"


def test_an_idempotent_retry_goes_to_the_route_and_replays(http: TestClient, record: dict[str, Any]) -> None:
    first = http.post(SCORE, json={"records": [record]}, headers={"Idempotency-Key": "retry-1"}).json()
    again = http.post(SCORE, json={"records": [record]}, headers={"Idempotency-Key": "retry-1"}).json()
    assert again["batch_id"] == first["batch_id"] and again["replayed"] is True


def test_with_keys_on_the_lane_serves_verified_scorers_only(trained: Crispml, record: dict[str, Any]) -> None:
    settings = trained.settings
    roles = {role: (role, None) for role in ("admin", "scorer", "viewer")}
    keys = keys_of(settings.home, settings.database_url, **roles)
    with app_over(trained, require_keys=True) as client:
        assert client.post(SCORE, json={"records": [record]}).status_code == 401
        viewer = client.post(SCORE, json={"records": [record]}, headers={"Authorization": f"Bearer {keys['viewer']}"})
        assert viewer.status_code == 403
        wrong = client.post(SCORE, json={"records": [record]}, headers={"Authorization": "Bearer not-a-key"})
        assert wrong.status_code == 401
        scorer = {"Authorization": f"Bearer {keys['scorer']}"}
        # The first request verifies the key (the route, off the event loop); the next ones take the lane.
        batches = [client.post(SCORE, json={"records": [record]}, headers=scorer).json()["batch_id"] for _ in range(3)]
    events, _ = trained.audit.events(AuditQuery(action="score.batch"), limit=10)
    by_batch = {event.after["batch"]: event.principal for event in events}
    assert [by_batch[batch] for batch in batches] == ["scorer"] * 3
