"""Identities and roles over REST: every route of the app answers only the roles the permission table
grants (the walk MLflow's authorization-coverage test does), keys are checked, revoked, rotated and
rate-limited, a key sees only its projects, and a server off loopback refuses to start without an admin."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from crispml.api.app import create_app
from crispml.client import AsyncClient, Client
from crispml.container import Container
from crispml.domain import AuditQuery
from crispml.errors import Conflict, Forbidden, NotFound, TooManyAttempts, Unauthorized
from crispml.identity import Role
from crispml.permissions import GRANTS, ROUTE_ACTIONS, Action
from crispml.settings import Settings
from tests.api.conftest import CRISPML, Server, free_port
from tests.conftest import wait_for

KEYS_ON = {"CRISPML_REQUIRE_KEYS": "1"}


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The HTTP layer acts alike on both stores: one server per test (SQLite), except where the store's
    own SQL is what is checked (a key's projects: parametrized over both)."""
    return str(request.param)


def every_route() -> list[tuple[str, str, str]]:
    """(method, path, name) of every route the app serves: the OpenAPI document's operations, and the
    routes it leaves out (its own document and the API docs)."""
    app = create_app()
    found = {
        (method.upper(), path, operation["operationId"])
        for path, methods in app.openapi()["paths"].items()
        for method, operation in methods.items()
    }
    for route in app.router.routes:
        if isinstance(route, APIRoute | Route) and not route.include_in_schema:
            found |= {(method, route.path, route.name) for method in route.methods or () if method != "HEAD"}
    return sorted(found)


def bodies(method: str, name: str) -> list[dict[str, Any]]:
    """The request bodies a route is tried with: JSON, and for scoring a table too (it has its own handler)."""
    if method not in ("POST", "PUT", "PATCH"):
        return [{}]
    table = {"content": b"V1,V2\n0.5,1.5\n", "headers": {"content-type": "text/csv"}}
    return [{"json": {}}, table] if name in ("score", "invocations") else [{"json": {}}]


def concrete(path: str) -> str:
    """A path with its parameters filled in: a version by a number, anything else by a name."""
    return re.sub(r"\{[^}]*\}", lambda m: "1" if "version" in m.group(0) else "x1", path)


def keys_of(home: Path, database_url: str | None, **users: tuple[str, list[str] | None]) -> dict[str, str]:
    """Create API users on the store (name=(role, projects)); their keys by name."""
    with Container(Settings(home=home, database_url=database_url, user="test-admin")) as container:
        return {name: container.access.create(name, role, projects).key for name, (role, projects) in users.items()}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def keyed(make_server: Any, home: Path, database_url: str | None, small_csv: Path) -> tuple[Server, dict[str, str]]:
    """A server that requires keys, and a key per role (named after it)."""
    keys = keys_of(home, database_url, **{role.value: (role.value, None) for role in Role})
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "creditcard.csv").write_bytes(small_csv.read_bytes())
    return make_server(**KEYS_ON).start(), keys


def test_every_route_answers_exactly_the_roles_its_action_is_granted_to(keyed: tuple[Server, dict[str, str]]) -> None:
    server, keys = keyed
    routes = every_route()
    assert len(routes) >= 50 and {name for _m, _p, name in routes} <= ROUTE_ACTIONS.keys()
    checked = 0
    with httpx.Client(base_url=server.url, timeout=120) as http:
        for method, path, name in routes:
            action = ROUTE_ACTIONS[name]
            for body in bodies(method, name):
                checked += check_route(http, keys, method, path, name, action, body)
    assert checked >= 6 * 40


def check_route(http: httpx.Client, keys: dict[str, str], method: str, path: str, name: str, action: Action,
                body: dict[str, Any]) -> int:  # fmt: skip
    """Send one request without a key, with a wrong one and with each role's; how many roles were checked."""
    headers = body.pop("headers", {})
    url = concrete(path)
    anonymous = http.request(method, url, headers=headers, **body)
    if action is Action.PUBLIC:  # answered without a key (MLflow's /health: 404 until a champion exists)
        assert anonymous.status_code not in (401, 403, 429), (method, path, anonymous.text)
        if name in ("healthz", "readyz", "openapi", "swagger", "redoc"):
            assert anonymous.status_code == 200, (method, path, anonymous.text)
        return 0
    assert anonymous.status_code == 401, (method, path, anonymous.status_code, anonymous.text)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    # A wrong key: 401, or 429 once its key id failed ten times from this address.
    wrong = http.request(method, url, headers={**headers, **bearer(f"cml_{'0' * 12}_{'A' * 43}")}, **body)
    assert wrong.status_code in (401, 429), (method, path, wrong.text)
    for role in Role:
        answer = http.request(method, url, headers={**headers, **bearer(keys[role.value])}, **body)
        refused = answer.status_code in (401, 403)
        assert refused == (role not in GRANTS[action]), (role, method, path, answer.status_code, answer.text)
        if refused:
            assert answer.status_code == 403, (role, method, path, answer.text)
    return len(Role)


def test_a_route_missing_from_the_table_is_refused(home: Path) -> None:
    app = create_app(Settings(home=home))

    @app.get("/unlisted")
    async def unlisted() -> dict[str, str]:
        return {"reached": "yes"}

    from fastapi.testclient import TestClient

    with TestClient(app) as http:
        answer = http.get("/unlisted")
    assert answer.status_code == 403 and "not in the permission table" in answer.json()["detail"]


def test_a_stewards_ingestion_records_the_steward(keyed: tuple[Server, dict[str, str]]) -> None:
    server, keys = keyed
    with Client(server.url, api_key=keys["steward"], timeout=300) as steward:
        dataset = steward.ingest("creditcard.csv", name="ccf", percent_data=0.2)
        prepared = steward.prepare("ccf")
        jobs = steward.jobs()["items"]
    assert dataset["created_by"] == "steward" and prepared["created_by"] == "steward"
    assert dataset["project"] == prepared["project"] == "default"
    assert {job["created_by"] for job in jobs} == {"steward"}


def test_revoked_and_rotated_away_keys_are_refused(keyed: tuple[Server, dict[str, str]], home: Path,
                                                   database_url: str | None) -> None:  # fmt: skip
    server, keys = keyed
    settings = Settings(home=home, database_url=database_url)

    def status(key: str) -> int:
        return httpx.get(f"{server.url}/api/v1/datasets", headers=bearer(key), timeout=30).status_code

    assert status(keys["viewer"]) == 200 and status(keys["auditor"]) == 200  # both now cached as verified
    with Container(settings) as container:
        container.access.revoke("viewer")
        rotated = container.access.rotate("auditor").key
    # Another process changed them: the server's cache of verified keys lets go within 2 s.
    wait_for(lambda: status(keys["viewer"]) == 401, timeout=10, poll=0.2)
    wait_for(lambda: status(keys["auditor"]) == 401, timeout=10, poll=0.2)
    assert status(rotated) == 200
    answer = httpx.get(f"{server.url}/api/v1/datasets", headers=bearer(keys["viewer"]), timeout=30)
    assert answer.json()["title"] == "Unauthorized" and "revoked" in answer.json()["detail"]


def test_failed_logins_are_limited_per_key_and_address(keyed: tuple[Server, dict[str, str]]) -> None:
    server, keys = keyed
    right = keys["scientist"]
    guess = right[:-6] + "guess0"  # the same key id, a wrong secret
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(10):
            assert http.get("/api/v1/datasets", headers=bearer(guess)).status_code == 401
        limited = http.get("/api/v1/datasets", headers=bearer(guess))
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.json()["title"] == "TooManyAttempts"
        # Once limited, that key id is refused from this address even with its right secret ...
        assert http.get("/api/v1/datasets", headers=bearer(right)).status_code == 429
        # ... while other keys go on working.
        assert http.get("/api/v1/datasets", headers=bearer(keys["viewer"])).status_code == 200
    with Client(server.url, api_key=guess) as client, pytest.raises(TooManyAttempts):
        client.datasets()


def test_every_process_on_the_store_counts_the_same_failed_logins(
    keyed: tuple[Server, dict[str, str]], home: Path, database_url: str | None
) -> None:
    """Failures seen by another process (another worker, another server on the database) limit this one."""
    server, keys = keyed
    right = keys["steward"]
    guess = right[:-6] + "guess1"
    settings = Settings(home=home, database_url=database_url)  # type: ignore[arg-type]
    with Container(settings) as elsewhere:
        for _ in range(10):
            with pytest.raises(Unauthorized, match="not valid"):
                elsewhere.access.login(guess, "127.0.0.1")
        with pytest.raises(TooManyAttempts, match="retry after"):
            elsewhere.access.login(guess, "127.0.0.1")
        assert elsewhere.access.login(right, "10.0.0.9").name == "steward"  # another address is not limited
    limited = httpx.get(f"{server.url}/api/v1/datasets", headers=bearer(right), timeout=30)
    assert limited.status_code == 429, limited.text
    with Container(settings) as container:
        events, _total = container.audit.events(AuditQuery(action="auth.failed"), limit=1000)
    assert sum(e.after == {"address": "127.0.0.1"} and e.principal == "anonymous" for e in events) >= 10


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_key_sees_only_its_projects(make_server: Any, home: Path, database_url: str | None,
                                      small_csv: Path) -> None:  # fmt: skip
    keys = keys_of(home, database_url, boss=("admin", None), alice=("steward", ["p1"]),
                   sam=("scientist", ["p1"]), sid=("scorer", ["p1"]), pat=("scorer", None))  # fmt: skip
    server = make_server(**KEYS_ON).start()
    with Client(server.url, api_key=keys["boss"], timeout=300) as boss:
        boss.upload(small_csv, name="ccf")  # the default project
        curated = boss.curate(boss.prepare("ccf")["id"], frames="1-6")
        model = boss.train(curated["id"], name="fraud", params={"n_estimators": 5})
        boss.persist("fraud", 1)
        record = {k: 0.0 for k in model["features"]}
        batch = boss.score("fraud", records=[record])
        boss_job = boss.jobs()["items"][0]
    assert model["project"] == curated["project"] == "default"
    with Client(server.url, api_key=keys["alice"], timeout=300) as alice:
        own = alice.upload(small_csv, name="p1data")
        assert own["project"] == "p1"  # the key's only project
        assert alice.prepare("p1data")["project"] == "p1"  # derived datasets inherit it
        assert [d["name"] for d in alice.datasets()["items"]] == ["p1data", "p1data-prep"]
        for call in (lambda: alice.dataset("ccf"), lambda: alice.prepare("ccf"), lambda: alice.job(boss_job["id"])):
            with pytest.raises(NotFound):
                call()
        with pytest.raises(Forbidden, match="may not write into project 'default'"):
            alice.ingest("creditcard.csv", name="elsewhere", project="default")
        # A name another project uses is not hers to add versions to, and the refusal tells nothing of it.
        with pytest.raises(Conflict, match=r"^the name 'ccf' belongs to another project; choose another name"):
            alice.upload(small_csv, name="ccf")
        assert [d["name"] for d in alice.datasets()["items"]] == ["p1data", "p1data-prep"]
    with Client(server.url, api_key=keys["boss"], timeout=300) as boss:
        assert [(d["name"], d["version"]) for d in boss.datasets()["items"] if d["name"] == "ccf"] == [("ccf", 1)]
    with Client(server.url, api_key=keys["sam"], timeout=300) as sam:
        assert sam.models()["items"] == []
        for call in (lambda: sam.model("fraud", 1), lambda: sam.alias("fraud", "champion"),
                     lambda: sam.lineage("fraud", alias="champion"), lambda: sam.report("fraud", 1),
                     lambda: sam.versions("fraud")):  # fmt: skip
            with pytest.raises(NotFound):
                call()
    with Client(server.url, api_key=keys["sid"]) as sid:
        with pytest.raises(NotFound):
            sid.score("fraud", records=[record])
        with pytest.raises(NotFound):
            sid.batch(batch["batch_id"])
    with Client(server.url, api_key=keys["pat"]) as pat:  # a scorer of every project scores and reads it
        assert pat.score("fraud", records=[record])["model"] == "fraud/1"
        assert pat.batch(batch["batch_id"])["batch_id"] == batch["batch_id"]
    with Client(server.url, api_key=keys["sid"]) as sid, pytest.raises(NotFound):
        sid.score("fraud", records=[record])  # resolved for pat a moment ago: still not sid's to see


def test_the_client_sends_crispml_api_key(keyed: tuple[Server, dict[str, str]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    server, keys = keyed
    monkeypatch.delenv("CRISPML_API_KEY", raising=False)
    with Client(server.url) as anonymous, pytest.raises(Unauthorized, match="API key is required"):
        anonymous.datasets()
    monkeypatch.setenv("CRISPML_API_KEY", keys["viewer"])
    with Client(server.url) as viewer:
        assert viewer.datasets()["items"] == []
        with pytest.raises(Exception, match="role viewer may not"):
            viewer.train("ccf", name="fraud")
    with Client(server.url, api_key=keys["auditor"]) as explicit:  # an explicit key wins over the environment
        assert "summary" in explicit.perf()

    async def through_async() -> Any:
        async with AsyncClient(server.url) as client:
            return await client.datasets()

    assert asyncio.run(through_async())["items"] == []


def test_serve_off_loopback_requires_keys_and_an_admin(home: Path, database_url: str | None) -> None:
    env = {**os.environ, "CRISPML_HOME": str(home)}
    env.pop("CRISPML_DATABASE_URL", None)
    env.pop("CRISPML_REQUIRE_KEYS", None)
    if database_url:
        env["CRISPML_DATABASE_URL"] = database_url
    port = str(free_port())
    refused = subprocess.run([CRISPML, "serve", "--host", "0.0.0.0", "--port", port], env=env, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert refused.returncode == 9, refused.stderr
    assert "requires API keys and no admin user exists" in refused.stderr and len(refused.stderr.splitlines()) == 1
    key = keys_of(home, database_url, root=("admin", None))["root"]
    server = subprocess.Popen([CRISPML, "serve", "--host", "0.0.0.0", "--port", port, "--log-level", "warning"],
                              env=env)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{url}/healthz"), timeout=60, poll=0.2)
        assert httpx.get(f"{url}/api/v1/datasets").status_code == 401  # no switch was needed
        assert httpx.get(f"{url}/api/v1/datasets", headers=bearer(key)).status_code == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_on_loopback_keys_are_off_unless_switched_on(server: Server) -> None:
    # The `server` fixture listens on 127.0.0.1 without the switch: today's behaviour, no key needed.
    answer = httpx.get(f"{server.url}/api/v1/datasets", timeout=30)
    assert answer.status_code == 200


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        time.sleep(0.1)
        return False
