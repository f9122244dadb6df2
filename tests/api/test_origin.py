"""Another web page cannot drive the server: a foreign Host or Origin (or Referer, or a cross-site fetch) is
refused with 403 problem+json and changes nothing; the server's own pages and non-browser clients work.

One server serves the module (but the test of settings): each test counts the datasets it adds.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.api.conftest import Server

PROBLEM_JSON = "application/problem+json"
INGEST = "/crispml/repDataIngest"
PARAMS = {"percentData": 0.1}


def datasets(server: Server) -> list[str]:
    answer = httpx.get(f"{server.url}/api/v1/datasets", timeout=30)
    answer.raise_for_status()
    return [item["id"] for item in answer.json()["items"]]


def refused(answer: httpx.Response, *words: str) -> None:
    assert answer.status_code == 403, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM_JSON)
    body = answer.json()
    assert body["status"] == 403 and body["title"] == "Forbidden"
    for word in words:
        assert word in body["detail"], body["detail"]


FOREIGN = [
    ({"Origin": "https://evil.example"}, ("'https://evil.example' (Origin)", "CRISPML_ALLOWED_ORIGINS")),
    ({"Origin": "null"}, ("'null' (Origin)",)),
    ({"Referer": "https://evil.example/page?x=1"}, ("'https://evil.example' (Referer)",)),
    ({"Sec-Fetch-Site": "cross-site"}, ("cross-site browser request",)),
    ({"Host": "evil.example"}, ("Host header 'evil.example'", "CRISPML_ALLOWED_HOSTS")),
    ({"Host": "rebound.example:8000", "Origin": "http://rebound.example:8000"}, ("Host header",)),
]


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    return shared_server


def test_a_state_changing_get_from_another_page_is_refused_and_changes_nothing(server: Server) -> None:
    before = datasets(server)
    for headers, words in FOREIGN:
        answer = httpx.get(f"{server.url}{INGEST}", params=PARAMS, headers=headers, timeout=120)
        refused(answer, *words)
    assert datasets(server) == before


def test_the_servers_own_pages_and_non_browser_clients_are_served(server: Server) -> None:
    before = len(datasets(server))
    own = {"Origin": server.url, "Sec-Fetch-Site": "same-origin"}
    assert httpx.get(f"{server.url}{INGEST}", params=PARAMS, headers=own, timeout=120).status_code == 200
    by_referer = {"Referer": f"{server.url}/docs"}
    assert httpx.get(f"{server.url}{INGEST}", params=PARAMS, headers=by_referer, timeout=120).status_code == 200
    typed_in = {"Sec-Fetch-Site": "none"}  # the user typed the URL
    assert httpx.get(f"{server.url}{INGEST}", params=PARAMS, headers=typed_in, timeout=120).status_code == 200
    localhost = {"Host": f"localhost:{server.port}", "Origin": f"http://localhost:{server.port}"}
    assert httpx.get(f"{server.url}{INGEST}", params=PARAMS, headers=localhost, timeout=120).status_code == 200
    assert httpx.get(f"{server.url}{INGEST}", params=PARAMS, timeout=120).status_code == 200  # no Origin: a client
    assert len(datasets(server)) == before + 5


def test_a_post_from_another_page_is_refused_and_from_the_own_origin_served(server: Server) -> None:
    before = datasets(server)
    httpx.get(f"{server.url}{INGEST}", params=PARAMS, timeout=120).raise_for_status()
    (raw,) = set(datasets(server)) - set(before)
    prepare = f"{server.url}/api/v1/datasets/{raw}/prepare"
    refused(httpx.post(prepare, json={}, headers={"Origin": "https://evil.example"}, timeout=120), "evil.example")
    refused(httpx.post(prepare, json={}, headers={"Host": "evil.example"}, timeout=120), "evil.example")
    assert sorted(datasets(server)) == sorted([*before, raw])
    assert httpx.post(prepare, json={}, headers={"Origin": server.url}, timeout=120).status_code == 201
    assert len(datasets(server)) == len(before) + 2


def test_allowed_hosts_and_origins_are_settings(make_server: Callable[..., Server]) -> None:
    server = make_server(
        CRISPML_ALLOWED_HOSTS="crispml.internal, other.internal",
        CRISPML_ALLOWED_ORIGINS="https://console.example",
    ).start()
    url = f"{server.url}/api/v1/datasets"
    named = {"Host": "crispml.internal:443", "Origin": "https://console.example"}
    assert httpx.get(url, headers=named, timeout=30).status_code == 200
    assert httpx.get(url, headers={"Host": "other.internal"}, timeout=30).status_code == 200
    refused(httpx.get(url, headers={"Host": "third.internal"}, timeout=30), "third.internal")
    refused(httpx.get(url, headers={"Origin": "https://console.example.evil"}, timeout=30), "console.example.evil")
    anything = make_server(CRISPML_ALLOWED_HOSTS="*", CRISPML_ALLOWED_ORIGINS="*").start()
    headers = {"Host": "any.example", "Origin": "https://any.example"}
    assert httpx.get(f"{anything.url}/api/v1/datasets", headers=headers, timeout=30).status_code == 200
