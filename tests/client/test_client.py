"""The Python client against a real server: jobs, errors for unreachable servers, streamed uploads."""

from __future__ import annotations

import asyncio
import re
import socket
import sqlite3
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from crispml.client import AsyncClient, Client
from crispml.errors import Conflict, InvalidInput, NotFound, Unavailable
from tests.api.conftest import Server, free_port
from tests.conftest import wait_for


@pytest.fixture
def database_url() -> None:
    """The HTTP and CLI layers tested here act alike on both stores; the services' and storage's tests
    run on SQLite and PostgreSQL, so these start one server per test, not two."""
    return None


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    """One server for the tests that need no fresh store (the jobs test starts its own)."""
    return shared_server


def test_jobs_list_show_and_cancel(make_server: Callable[..., Server], home: Path, small_csv: Path) -> None:
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "creditcard.csv").write_bytes(small_csv.read_bytes())
    server = make_server(CRISPML_JOB_WORKERS="1").start()  # one worker: a second job waits in the queue
    with Client(server.url, timeout=300) as api, Client(server.url, timeout=300, wait_for_jobs=False) as submit:
        api.ingest("creditcard.csv", name="ccf")
        slow = submit.train("ccf", name="slow", params={"n_estimators": 100})  # seconds: the worker stays busy
        queued = submit.train("ccf", name="queued", params={"n_estimators": 5})
        assert slow["status"] in ("queued", "running") and queued["status"] == "queued"
        cancelled = api.cancel_job(queued["id"])
        assert cancelled["status"] == "cancelled" and cancelled["cancel_requested"] is True
        listed = api.jobs()
        items = listed["items"] if isinstance(listed, dict) else listed
        assert [j["id"] for j in items][:2] == [queued["id"], slow["id"]]
        assert {j["kind"] for j in items} >= {"ingest", "train"}
        only_cancelled = api.jobs(status="cancelled")
        items = only_cancelled["items"] if isinstance(only_cancelled, dict) else only_cancelled
        assert [j["id"] for j in items] == [queued["id"]]
        assert api.job(queued["id"])["status"] == "cancelled"
        with pytest.raises(Conflict, match="already cancelled"):
            api.cancel_job(queued["id"])
        with pytest.raises(NotFound):
            api.job("job-nothing")
        # Each wait ends at the server's long-poll cap (a minute), however long the slow job takes.
        wait_for(lambda: api.job(slow["id"], wait=True, timeout=30)["status"] not in ("queued", "running"), 300)
        done = api.job(slow["id"])
        assert done["status"] == "succeeded" and done["result"]["name"] == "slow"


def test_a_failing_source_query_is_invalid_input_not_an_internal_error(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "source.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE t (a REAL, Class INTEGER)")
    client.add_source("lite", f"sqlite:///{source}")
    with pytest.raises(InvalidInput, match="no such column: nonsense") as raised:
        client.ingest(source="lite", query="SELECT nonsense")
    assert raised.value.field == "source"
    job = client.jobs(status="failed")
    failed = (job["items"] if isinstance(job, dict) else job)[0]
    assert failed["error"]["title"] == "InvalidInput" and "Traceback" not in failed["error"]["detail"]
    with pytest.raises(NotFound, match="'nowhere' is not registered"):
        client.ingest(source="nowhere", table="t")


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_unreachable_servers_raise_unavailable_naming_the_url(silent_server: str) -> None:
    refused = f"http://127.0.0.1:{free_port()}"
    with (
        Client(refused) as api,
        pytest.raises(Unavailable, match=re.escape(f"cannot reach the crispml server at {refused}")),
    ):
        api.models()
    with (
        Client("http://no-such-host.invalid") as api,
        pytest.raises(Unavailable, match=re.escape("no-such-host.invalid")),
    ):
        api.models()
    with Client(silent_server, timeout=0.3) as api, pytest.raises(Unavailable, match="timed out"):
        api.models()

    async def remote() -> None:
        async with AsyncClient(refused) as api:
            await api.jobs()

    with pytest.raises(Unavailable, match=re.escape(refused)):
        asyncio.run(remote())
    assert issubclass(Unavailable, Exception) and Unavailable("x").exit_code == 7
    assert not issubclass(Unavailable, httpx.HTTPError)


def test_upload_streams_the_file_instead_of_reading_it(client: Client, small_csv: Path, tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    header, _, body = small_csv.read_bytes().partition(b"\n")
    with big.open("wb") as out:
        out.write(header + b"\n")
        for _ in range(4):
            out.write(body)
    size = big.stat().st_size
    assert size > 20_000_000
    streaming = Client(str(client.http.base_url), timeout=300, wait_for_jobs=False)
    tracemalloc.start()
    try:
        job = streaming.upload(big, name="big")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        streaming.close()
    assert peak < size / 10, f"upload held {peak:,} bytes of a {size:,}-byte file"
    done = client.job(job["id"], wait=True, timeout=120)
    assert done["status"] == "succeeded" and done["result"]["rows"] == 4 * (body.count(b"\n"))

    async def upload_async() -> dict[str, object]:
        async with AsyncClient(str(client.http.base_url), timeout=300) as api:
            return dict(await api.upload(small_csv, name="small"))

    assert asyncio.run(upload_async())["name"] == "small"
