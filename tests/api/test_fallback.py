"""The fallback model over HTTP: the champion's artifact tampered with under load fails no request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

import crispml
from crispml.services.synthesis import write_synthetic
from tests.api.conftest import Server
from tests.conftest import wait_for
from tests.services.test_fallback import champion_and_fallback, tamper
from tests.steps.test_fast_path import later_rows

CLIENTS = 4


Answers = list[list[tuple[int, dict[str, Any]]]]


@contextmanager
def scoring_under_load(url: str, records: list[dict[str, Any]], clients: int) -> Iterator[Answers]:
    """`clients` threads posting `records` to the score route `url` until the block ends, each keeping its
    (status, answer) pairs in order; the block starts once every client has had 5 answers."""
    stop = threading.Event()
    answers: Answers = [[] for _ in range(clients)]

    def client(mine: list[tuple[int, dict[str, Any]]]) -> None:
        with httpx.Client(timeout=60) as http:
            while not stop.is_set():
                response = http.post(url, json={"records": records})
                mine.append((response.status_code, response.json()))

    threads = [threading.Thread(target=client, args=(mine,)) for mine in answers]
    for thread in threads:
        thread.start()
    try:
        wait_for(lambda: all(len(mine) >= 5 for mine in answers))
        yield answers
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path, list[dict[str, Any]]]]:
    """A server (environment qa) over a store with fraud/1 as champion and fraud/2 as fallback; the
    champion's artifact file, and a record to score."""
    home = tmp_path_factory.mktemp("fallback-http")
    source = home / "creditcard.csv"
    write_synthetic(source, 6_000)
    with crispml.connect(home=home / "home", user="tester") as cml:
        _, _, path = champion_and_fallback(cml, source)
        records = later_rows(cml, 1).to_dict("records")
    server = Server(home / "home", None, {"CRISPML_ENVIRONMENT": "qa"}).start()
    yield server, path, records
    server.stop()


def test_tampering_with_the_champion_under_load_fails_no_request(
    served: tuple[Server, Path, list[dict[str, Any]]],
) -> None:
    server, path, records = served
    url = f"{server.url}/api/v1/models/fraud/score"
    ready = httpx.get(f"{server.url}/readyz").json()
    assert (ready["status"], ready["environment"], ready["degraded"]) == ("ready", "qa", {})

    with scoring_under_load(url, records, CLIENTS) as answers:
        tamper(path)
        # Every client gets fallback answers, and goes on getting them.
        wait_for(lambda: all(sum(a.get("model") == "fraud/2" for _, a in mine) >= 20 for mine in answers))

    every = [answer for mine in answers for answer in mine]
    assert [status for status, _ in every if status != 200] == []
    for mine in answers:
        models = [a["model"] for _, a in mine]
        switched = models.index("fraud/2")
        assert set(models[:switched]) == {"fraud/1"} and set(models[switched:]) == {"fraud/2"}
        assert all(a["fallback_reason"] is None for _, a in mine[:switched])
        assert all(a["fallback_reason"].startswith("integrity: fraud/1: ") for _, a in mine[switched:])
    last = answers[0][-1][1]
    stored = httpx.get(f"{server.url}/api/v1/score-batches/{last['batch_id']}").json()
    assert (stored["model"], stored["fallback_reason"]) == ("fraud/2", last["fallback_reason"])

    ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded" and ready.json()["degraded"] == {
        "fraud@champion": last["fallback_reason"]
    }
    metrics = httpx.get(f"{server.url}/metrics").text
    counted = [line for line in metrics.splitlines() if line.startswith("crispml_fallback_scores_total{")]
    assert len(counted) == 1 and 'name="fraud"' in counted[0] and 'reason="integrity"' in counted[0]
    assert float(counted[0].rsplit(" ", 1)[1]) == sum(a["model"] == "fraud/2" for _, a in every)

    # Without a fallback: the champion's own error, as before.
    assert httpx.delete(f"{server.url}/api/v1/models/fraud/aliases/fallback").status_code == 204
    refused = httpx.post(url, json={"records": records})
    assert refused.status_code == 500 and refused.json()["type"] == "/problems/integrity-failure"
    assert "modified" in refused.json()["detail"]

    # A good champion again: back to normal.
    moved = httpx.put(f"{server.url}/api/v1/models/fraud/aliases/champion", json={"version": 2})
    assert moved.status_code == 200
    normal = httpx.post(url, json={"records": records}).json()
    assert (normal["model"], normal["fallback_reason"]) == ("fraud/2", None)
    assert httpx.get(f"{server.url}/readyz").json()["status"] == "ready"
