"""Data protection over REST, against a real server: tags, pseudonyms, anonymization, erasure, retention."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from crispml.client import Client
from crispml.errors import Erased, InvalidInput, NotFound
from tests.api.conftest import Server
from tests.services.test_privacy import SECRET, TAGS, people

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])


def start(make_server: Callable[..., Server], home: Path, tmp_path: Path, *, keyed: bool) -> Server:
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    people().to_csv(data / "people.csv", index=False)
    env = {}
    if keyed:
        secret = tmp_path / "pseudonym.key"
        secret.write_text(SECRET)
        env["CRISPML_PSEUDONYM_KEY_FILE"] = str(secret)
    return make_server(**env).start()


def test_privacy_routes_end_to_end(make_server: Callable[..., Server], home: Path, tmp_path: Path) -> None:
    server = start(make_server, home, tmp_path, keyed=True)
    with Client(server.url, timeout=300) as api:
        raw = api.ingest("people.csv", name="people", slices=4, key="cust", tags=TAGS)
        assert raw["tags"] == TAGS and raw["removed"] is None
        assert api.dataset("people/1")["tags"] == TAGS  # shown in the dataset's metadata

        tagged = api.tag_columns("people/1", {"V1": "sensitive", "email": None})
        assert tagged["tags"]["V1"] == "sensitive" and "email" not in tagged["tags"]
        answer = httpx.post(f"{server.url}/api/v1/privacy/tags", json={"dataset": "people", "tags": {"V1": "secret"}})
        assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"

        pseudo = api.pseudonymize("people/1")
        assert (pseudo["name"], pseudo["version"], pseudo["parent_id"]) == ("people", 2, raw["id"])
        assert pseudo["params"]["pseudonymized"] == ["cust"]

        anonymized = api.anonymize("people/1", k=4)
        assert anonymized["report"]["k_achieved"] >= 4 and anonymized["dataset"]["name"] == "people-anon"
        before = api.datasets()["total"]
        with pytest.raises(InvalidInput, match="refused: k=100000 not reached"):
            api.anonymize("people/1", k=100_000)
        assert api.datasets()["total"] == before

        prepared = api.prepare("people/1")
        erasure = api.erase("cust", "c3")
        assert {v["erased"] for v in erasure["versions"]} == {"people/1", "people/2", "people-anon/1", "people-prep/1"}
        assert erasure["records"] == 2 and erasure["models"] == []
        assert SECRET not in str(erasure)
        listed = {f"{d['name']}/{d['version']}": d for d in api.datasets()["items"]}
        assert listed["people/1"]["removed"] == "erased" and listed["people/1"]["sha256"] == raw["sha256"]
        assert listed[prepared["name"] + "/1"]["removed"] == "erased"
        with pytest.raises(Erased, match="people/1 was erased"):
            api.prepare("people/1", name="again")
        answer = httpx.post(f"{server.url}/api/v1/datasets/people%2F1/prepare", json={"name": "again"})
        assert answer.status_code == 410 and answer.json()["title"] == "Erased"

        assert api.set_retention("people", 0) == {"periods": {"people": 0}}
        assert api.retention() == {"periods": {"people": 0}}
        run = api.apply_retention()
        assert run["kept"] == [] and set(run["expired"]) == {v["replaced_by"] for v in erasure["versions"]
                                                              if v["replaced_by"].startswith("people/")}  # fmt: skip
        with pytest.raises(NotFound):
            api.set_retention("nobody", 3)
        answer = httpx.put(f"{server.url}/api/v1/privacy/retention", json={"name": "people", "days": -1})
        assert answer.status_code == 422


def test_pseudonymize_without_a_key_answers_422_naming_the_setting(
    make_server: Callable[..., Server], home: Path, tmp_path: Path
) -> None:
    server = start(make_server, home, tmp_path, keyed=False)
    with Client(server.url, timeout=300) as api:
        api.ingest("people.csv", name="people", slices=4, key="cust", tags=TAGS)
        answer = httpx.post(f"{server.url}/api/v1/privacy/pseudonymizations", json={"dataset": "people"})
        assert answer.status_code == 422
        assert "no pseudonym key is configured" in answer.json()["detail"]
        assert answer.json()["field"] == "CRISPML_PSEUDONYM_KEY_FILE"
        assert api.datasets()["total"] == 1


BAD_BODIES = [
    ("/api/v1/privacy/tags", {"dataset": "people", "tags": {}}),
    ("/api/v1/privacy/tags", {"dataset": "people", "tags": ["V1"]}),
    ("/api/v1/privacy/tags", {"dataset": "people", "tags": {"V1\x00": "personal"}}),
    ("/api/v1/privacy/tags", {"dataset": "../etc", "tags": {"V1": "personal"}}),
    ("/api/v1/privacy/anonymizations", {"dataset": "people", "k": 0}),
    ("/api/v1/privacy/anonymizations", {"dataset": "people", "k": 1e12}),
    ("/api/v1/privacy/anonymizations", {"dataset": "people", "k": 2, "quasi_identifiers": ["frame"]}),
    ("/api/v1/privacy/anonymizations", {"dataset": "people", "k": 2, "max_suppression": "Infinity"}),
    (
        "/api/v1/privacy/anonymizations",
        {"dataset": "people", "k": 2, "l_diversity": 2, "sensitive": "age", "quasi_identifiers": ["age"]},
    ),
    ("/api/v1/privacy/pseudonymizations", {"dataset": "people", "columns": ["record_id"]}),
    ("/api/v1/privacy/pseudonymizations", {"dataset": "people", "columns": [{"a": 1}]}),
    ("/api/v1/privacy/erasures", {"column": "cust", "value": ""}),
    ("/api/v1/privacy/erasures", {"column": "cust", "value": None}),
    ("/api/v1/privacy/erasures", {"column": "cust", "value": "x" * 5000}),
    ("/api/v1/privacy/erasures", {"column": "cust", "value": "c1", "extra": 1}),
    ("/api/v1/privacy/retention/apply", {"force": "yes please"}),
]


def test_hostile_privacy_bodies_are_refused_and_change_nothing(
    make_server: Callable[..., Server], home: Path, tmp_path: Path
) -> None:
    server = start(make_server, home, tmp_path, keyed=True)
    with Client(server.url, timeout=300) as api:
        api.ingest("people.csv", name="people", slices=4, key="cust", tags=TAGS)
        before = api.datasets()
        for path, body in BAD_BODIES:
            answer = httpx.post(f"{server.url}{path}", json=body, timeout=60)
            assert answer.status_code == 422, (path, body, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        assert api.datasets() == before
