"""Shared fixtures: every service test runs on the embedded SQLite store and on real PostgreSQL."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

import crispml
from crispml.local import Crispml
from crispml.services.synthesis import write_synthetic

POSTGRES_ADMIN_URL = os.environ.get("CRISPML_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SMALL_ROWS = 24_000


def pytest_configure() -> None:
    # OpenMP threads (LightGBM's, scikit-learn's histogram boosting) spin while they wait for work. On a
    # machine whose CPUs two test workers and their servers share, the spinning took most of the CPU
    # (LightGBM's test booster: 12 s of CPU instead of 1). Waiting passively changes no result. Set before
    # any OpenMP library loads (none has yet), and inherited by every server and command a test starts.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files marked `early` run first. `make test` hands its two workers a file at a time (--dist
    loadfile), and the reference-quality file alone takes three to five minutes: collected last, it ran
    alone at the end of the run while the other worker sat idle (CI 30 min on a slow evening). Started
    first, the long files run beside the many short ones, which fill both workers to the end."""
    items.sort(key=lambda item: item.get_closest_marker("early") is None)  # stable: the rest keep their order


def wait_for(condition: Callable[[], bool], timeout: float = 60, poll: float = 0.01) -> None:
    """Return once `condition()` holds; fail the test if it does not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"condition not met within {timeout:g} s"
        time.sleep(poll)


def _admin_engine():  # type: ignore[no-untyped-def]
    return create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 24,000-row synthetic credit-card file (about 41 frauds), written once per test run."""
    path = tmp_path_factory.mktemp("data") / "creditcard.csv"
    write_synthetic(path, SMALL_ROWS)
    return path


@contextmanager
def _fresh_postgres_database(owner: str | None = None) -> Iterator[str]:
    """A new database (owned by `owner`, a new login role without privileges, if given), dropped afterwards."""
    name = f"crispml_test_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        if owner:
            connection.execute(text(f'CREATE ROLE "{owner}" LOGIN'))
        connection.execute(text(f'CREATE DATABASE "{name}"' + (f' OWNER "{owner}"' if owner else "")))
    url = make_url(POSTGRES_ADMIN_URL).set(database=name, **({"username": owner} if owner else {}))
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if owner:
                connection.execute(text(f'DROP ROLE IF EXISTS "{owner}"'))
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    with _fresh_postgres_database() as url:
        yield url


@pytest.fixture
def source_postgres_url() -> Iterator[str]:
    """Another fresh PostgreSQL database, to register as a data source (crispml's own never is one).

    It belongs to a new role that is no superuser: crispml refuses to query a source as one.
    """
    with _fresh_postgres_database(owner=f"reader_{uuid.uuid4().hex[:10]}") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str | None:
    if backend == "sqlite":
        return None  # the embedded default under CRISPML_HOME
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def cml(home: Path, database_url: str | None) -> Iterator[Crispml]:
    """crispml's Python API on a fresh store."""
    with crispml.connect(home=home, database_url=database_url, user="tester") as container:
        yield container


FAST_RF = {"n_estimators": 20}


@pytest.fixture
def trained(cml: Crispml, small_csv: Path) -> Crispml:
    """The reference chain up to a persisted champion: ingest, prepare, curate, train rf, persist."""
    raw = cml.ingest(crispml_source(small_csv), name="ccf")
    prepared = cml.prepare(raw.id)
    curated = cml.curate(prepared.id, algorithm="rf", frames="1-6")
    model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud", params=FAST_RF)
    cml.persist(model.ref, alias="champion")
    return cml


def crispml_source(path: Path):  # type: ignore[no-untyped-def]
    from crispml.domain import SourceSpec

    return SourceSpec(path=str(path))
