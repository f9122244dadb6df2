"""`crispml jobs list|show|cancel`, locally and with --remote; a remote long command announces its job,
follows it, and cancels it on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from crispml.backends.remote_backend import RemoteBackend
from crispml.client import Client
from crispml.errors import NotFound
from tests.api.conftest import CRISPML, Server
from tests.cli.conftest import run
from tests.conftest import wait_for


@pytest.fixture
def database_url() -> None:
    """The HTTP and CLI layers tested here act alike on both stores; the services' and storage's tests
    run on SQLite and PostgreSQL, so these start one server per test, not two."""
    return None


def test_jobs_list_show_and_cancel_locally_and_remotely(
    server: Server, store_env: dict[str, str | None], small_csv: Path
) -> None:
    remote = ["--remote", server.url]
    ingested = run(["ingest", str(small_csv), "--name", "ccf", "--json", *remote], store_env)
    assert ingested.json["name"] == "ccf"
    announced = [line for line in ingested.stderr.splitlines() if line.startswith("job job-")]
    assert len(announced) == 1 and "(ingest) started on the server" in announced[0]
    job_id = announced[0].split()[1]

    listed = run(["jobs", "list", "--json", *remote], store_env).json
    assert [j["id"] for j in listed] == [job_id] and listed[0]["status"] == "succeeded"
    local = run(["jobs", "list", "--json"], store_env).json  # the same store, read directly
    assert [j["id"] for j in local] == [job_id]
    assert run(["jobs", "list", "--status", "failed", "--json"], store_env).json == []
    table = run(["jobs", "list", *remote], store_env).stdout
    assert job_id in table.split() and "succeeded" in table and "…" not in table

    shown = run(["jobs", "show", job_id, *remote], store_env).stdout
    assert job_id in shown and "succeeded" in shown
    assert run(["jobs", "show", job_id, "--wait", "--json"], store_env).json["result"]["name"] == "ccf"

    refused = run(["jobs", "cancel", job_id], store_env, expect=4)
    assert "already succeeded" in refused.stderr
    as_json = run(["jobs", "cancel", job_id, "--json", *remote], store_env, expect=4).json
    assert as_json["error"]["title"] == "Conflict" and as_json["error"]["exit_code"] == 4
    assert "does not exist" in run(["jobs", "show", "job-nothing", *remote], store_env, expect=3).stderr
    assert "'lost' is not one of" in run(["jobs", "list", "--status", "lost"], store_env, expect=2).text


def _ctrl_c_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_cancels_the_remote_job_and_exits_130(server: Server, client: Client) -> None:
    client.ingest("creditcard.csv", name="ccf")
    env = {**os.environ, "CRISPML_HOME": str(server.env["CRISPML_HOME"]) + "-unused", "COLUMNS": "80"}
    command = [CRISPML, "train", "ccf", "--name", "slow", "--param", "n_estimators=5000", "--remote", server.url]
    # A run started in the background (`make test &`, a CI runner) ignores SIGINT, and an ignored signal stays
    # ignored across exec: the command gets Ctrl-C's default handling back, as in a terminal.
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=_ctrl_c_as_in_a_terminal)  # fmt: skip
    assert process.stderr is not None
    first = process.stderr.readline()  # "job job-... (train) started on the server"
    assert first.startswith("job job-"), first
    job_id = first.split()[1]
    deadline = time.monotonic() + 60
    while client.job(job_id)["status"] != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=180)  # a busy machine (two test workers) is slow to stop a fit
    assert process.returncode == 130, rest
    assert f"cancelled job {job_id}" in rest and "Traceback" not in rest
    # The fit stops at its next progress report (a second or so apart); the server's long poll is capped.
    wait_for(lambda: client.job(job_id, wait=True, timeout=10)["status"] not in ("queued", "running"), timeout=120)
    ended = client.job(job_id)
    assert ended["cancel_requested"] is True and ended["status"] == "cancelled"
    with pytest.raises(NotFound):  # nothing of the cancelled training was kept
        client.versions("slow")


def test_remote_score_pages_through_every_score(server: Server, client: Client) -> None:
    client.ingest("creditcard.csv", name="ccf")
    model = client.train("ccf", name="fraud", params={"n_estimators": 5})
    client.persist("fraud", model["version"])
    with Client(server.url, timeout=300, wait_for_jobs=False) as api:
        backend = RemoteBackend(api, page_rows=997)  # pages far smaller than the batch
        phases: list[tuple[str, float]] = []
        answer = backend.score("fraud@champion", dataset="ccf", frames="7-12", file=None, idempotency_key=None,
                               progress=lambda phase, fraction: phases.append((phase, fraction)))  # fmt: skip
    ids = [s["record_id"] for s in answer["scores"]]
    assert len(ids) == answer["rows"] == len(set(ids)) > 997 * 5
    assert phases[-1][1] == 1.0
    stored = client.batch(answer["batch_id"], limit=100_000)["scores"]
    assert ids == [s["record_id"] for s in stored]
