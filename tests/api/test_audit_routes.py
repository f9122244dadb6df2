"""GET /api/v1/audit over a real server: the list envelope and its filters, and the request id every
request carries (the caller's `X-Request-ID` if it is short and printable) into the events it caused."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pandas as pd
import pytest

from crispml.client import Client
from crispml.errors import InvalidInput
from tests.api.conftest import Server


@pytest.fixture
def database_url() -> None:
    """The HTTP and CLI layers tested here act alike on both stores; the services' and storage's tests
    run on SQLite and PostgreSQL, so these start one server per test, not two."""
    return None


def _only(server: Server, **filters: object) -> dict:  # type: ignore[type-arg]
    page = httpx.get(f"{server.url}/api/v1/audit", params=filters).json()
    assert page["total"] == len(page["items"]) == 1, page
    return dict(page["items"][0])


def test_events_carry_the_request_id_of_the_request_that_caused_them(server: Server, client: Client,
                                                                    small_csv: Path) -> None:  # fmt: skip
    ingest = httpx.post(f"{server.url}/api/v1/datasets", json={"source": {"path": "creditcard.csv"}, "name": "ccf"},
                        headers={"X-Request-ID": "ingest-42"})  # fmt: skip
    assert ingest.status_code == 202 and ingest.headers["x-request-id"] == "ingest-42"
    client.job(ingest.json()["id"], wait=True, timeout=120)
    event = _only(server, action="dataset.ingest")
    assert (event["principal"], event["request_id"]) == ("api-tester", "ingest-42")  # the job carried it

    model = client.train("ccf", name="fraud", params={"n_estimators": 5})
    persisted = httpx.put(f"{server.url}/api/v1/models/fraud/aliases/champion", json={"version": model["version"]},
                          headers={"X-Request-ID": "persist-1"})  # fmt: skip
    assert persisted.status_code == 200
    assert _only(server, action="alias.set")["request_id"] == "persist-1"

    record = pd.read_csv(small_csv, nrows=1).drop(columns=["Class"]).to_dict("records")[0]
    for n in range(3):  # the first resolves and loads the model; the next ones take the hot path
        body = {"records": [{**record, "record_id": f"r-{n}"}]}
        headers = {"X-Request-ID": f"score-{n}"}
        scored = httpx.post(f"{server.url}/api/v1/models/fraud/score", json=body, headers=headers)
        assert scored.status_code == 200, scored.text
        assert scored.headers["x-request-id"] == f"score-{n}"
        newest = httpx.get(f"{server.url}/api/v1/audit", params={"action": "score.batch", "limit": 1}).json()
        event = newest["items"][0]
        assert (event["after"]["batch"], event["request_id"]) == (scored.json()["batch_id"], f"score-{n}")
        assert event["resource"] == "model:fraud/1" and newest["total"] == n + 1

    deleted = httpx.delete(f"{server.url}/api/v1/models/fraud/aliases/champion", headers={"X-Request-ID": "del-1"})
    assert deleted.status_code == 204 and deleted.headers["x-request-id"] == "del-1"
    event = _only(server, action="alias.delete")
    assert event["request_id"] == "del-1" and event["before"]["model"] == "fraud/1" and event["after"] is None


def test_an_unusable_request_id_is_replaced_by_a_new_one(server: Server) -> None:
    for sent in ("x" * 65, "has space", "tab\there", ""):
        answer = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": sent})
        assert re.fullmatch(r"[0-9a-f]{24}", answer.headers["x-request-id"]), sent
    first = httpx.get(f"{server.url}/healthz").headers["x-request-id"]
    assert first != httpx.get(f"{server.url}/healthz").headers["x-request-id"]


def test_the_listing_pages_and_filters_like_every_list(server: Server, client: Client) -> None:
    client.ingest("creditcard.csv", name="ccf")
    for alias in ("a1", "a2", "a3"):
        client.persist("fraud", client.train("ccf", name="fraud", params={"n_estimators": 3})["version"], alias=alias)
    page = client.audit(action="alias.*", limit=2)
    assert set(page) == {"items", "total", "limit", "offset", "next"}
    assert (page["total"], page["limit"], page["offset"], page["next"]) == (3, 2, 0, 2)
    assert [e["resource"] for e in page["items"]] == ["alias:fraud@a3", "alias:fraud@a2"]
    rest = client.audit(action="alias.*", limit=2, offset=2)
    assert [e["resource"] for e in rest["items"]] == ["alias:fraud@a1"] and rest["next"] is None
    assert client.audit(resource="model:fraud/2")["total"] == 2  # trained, then registered
    assert client.audit(principal="api-tester")["total"] == client.audit()["total"]
    assert client.audit(principal="nobody")["total"] == 0
    newest = client.audit(limit=1)["items"][0]
    assert newest["seq"] == client.audit()["total"] and len(newest["hash"]) == 64
    assert client.audit(since=newest["at"])["items"][0]["seq"] == newest["seq"]
    assert client.audit(until=newest["at"])["total"] == newest["seq"] - 1
    for bad in ({"limit": 0}, {"since": "yesterday"}, {"action": "x" * 301}):
        answer = httpx.get(f"{server.url}/api/v1/audit", params=bad)
        assert answer.status_code == 422, (bad, answer.text)
    try:
        client.audit(limit=5000)
    except InvalidInput as exc:
        assert "limit" in str(exc)
    else:
        raise AssertionError("a limit over 1000 was accepted")
