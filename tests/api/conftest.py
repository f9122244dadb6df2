"""A real crispml server (uvicorn in its own process) on a free port, per test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from crispml.client import Client

CRISPML = str(Path(sys.executable).with_name("crispml"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """Start, kill and restart one crispml server process over a given store."""

    def __init__(self, home: Path, database_url: str | None, extra_env: dict[str, str] | None = None,
                 serve_options: tuple[str, ...] = ()) -> None:  # fmt: skip
        """`serve_options`: more options of `crispml serve` (`--workers 2`)."""
        self.serve_options = serve_options
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "CRISPML_HOME": str(home), "CRISPML_USER": "api-tester", **(extra_env or {})}
        self.env.pop("CRISPML_DATABASE_URL", None)
        if database_url:
            self.env["CRISPML_DATABASE_URL"] = database_url
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, log_level: str = "warning", stdout: int | None = None) -> Server:
        """Start the server and wait until it answers; `stdout=subprocess.PIPE` keeps its log lines."""
        command = [CRISPML, "serve", "--port", str(self.port), "--log-level", log_level, *self.serve_options]
        self.process = subprocess.Popen(command, env=self.env, stdout=stdout)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "the server exited during start-up"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError("the server did not answer within 60 s")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """The HTTP layer acts alike on both stores, whose services and storage are tested on both: a server
    per test on SQLite, and on PostgreSQL where a test says so (the REST scenario, a key's projects)."""
    return str(request.param)


@pytest.fixture
def make_server(home: Path, database_url: str | None) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(**extra_env: str) -> Server:
        server = Server(home, database_url, extra_env)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


def with_small_csv(home: Path, small_csv: Path) -> Path:
    """`home`, whose data folder now holds the small credit-card file as creditcard.csv."""
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "creditcard.csv").write_bytes(small_csv.read_bytes())
    return home


@pytest.fixture
def server(make_server: Callable[..., Server], home: Path, small_csv: Path) -> Server:
    """A running server whose data folder holds the small credit-card file as creditcard.csv."""
    with_small_csv(home, small_csv)
    return make_server().start()


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Iterator[Server]:
    """One server (SQLite) for all the tests of a module, its data folder holding creditcard.csv.

    A module whose tests need no fresh store opts in by defining its `server` fixture as this one; its
    tests then check what they change (counts before and after), never what the store holds in all.
    """
    server = Server(with_small_csv(tmp_path_factory.mktemp("shared") / "home", small_csv), None)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url, timeout=300) as api:
        yield api
