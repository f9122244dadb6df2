"""The console's files at /console (public, under a strict content security policy) and `/api/v1/me`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from crispml.api.app import create_app
from crispml.permissions import GRANTS
from crispml.settings import Settings


@pytest.fixture
def http(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(home=tmp_path / "home", user="operator"))) as client:
        yield client


def test_the_console_is_served_from_the_package(http: TestClient) -> None:
    page = http.get("/console/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="app.js">' in page.text
    script = http.get("/console/pages/report.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert http.get("/console", follow_redirects=False).headers["location"] == "console/"


@pytest.mark.parametrize("name", ["../app.py", "pages/../../__init__.py", "missing.js", "__init__.py", "a/b/c.js"])
def test_nothing_but_the_consoles_files_is_served(http: TestClient, name: str) -> None:
    answer = http.get(f"/console/{name}")
    assert answer.status_code == 404, answer.text


def test_me_names_the_acting_user_and_what_its_role_may_do(http: TestClient) -> None:
    me = http.get("/api/v1/me").json()
    # Without keys every request acts as the server's user, an admin.
    assert (me["name"], me["role"], me["keys_required"], me["projects"]) == ("operator", "admin", False, None)
    assert set(me["allowed"]) == {action.value for action in GRANTS}
    assert http.get("/api/v1/users").json()["items"] == []
