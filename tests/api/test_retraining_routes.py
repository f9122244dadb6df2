"""Retraining policies and webhooks on a real server: REST, the Python client and the CLI (--remote) set,
list and remove them; the server's background evaluator fires a due policy once, and its dispatcher
sends the signed events to the registered target, visible in `crispml webhooks deliveries`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crispml.client import Client
from crispml.errors import InvalidInput, NotFound
from tests.api.conftest import CRISPML, Server
from tests.conftest import wait_for
from tests.services.test_retraining import FAILING
from tests.services.test_webhooks import SECRET, Receiver, signed_correctly


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server(HOOK_SECRET=SECRET, CRISPML_RETRAIN_CHECK_INTERVAL_S="0.3",
                       CRISPML_WEBHOOK_POLL_S="0.1").start()  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def cli(server: Server, *args: str) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISPML_")}
    done = subprocess.run([CRISPML, *args, "--remote", server.url, "--json"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_policy_set_over_rest_fires_once_on_the_server_and_its_events_reach_the_target(
    server: Server, client: Client, receiver: Receiver, tmp_path: Path
) -> None:
    added = cli(server, "webhooks", "add", receiver.url, "--events", "retrain.triggered,retrain.finished",
                "--secret-from-env", "HOOK_SECRET")  # fmt: skip
    assert added["url"] == receiver.url and added["secret_env"] == "HOOK_SECRET" and SECRET not in json.dumps(added)
    with pytest.raises(InvalidInput, match="only http:// and https://"):
        client.add_webhook("gopher://example.com/", events=["retrain.finished"], secret_env="HOOK_SECRET")
    answer = httpx.put(f"{server.url}/api/v1/retrain/policies/quick", json={"when": ["labels>=3"], "pipeline": "x"})
    assert answer.status_code == 422 and "of no known kind" in answer.json()["detail"]

    (tmp_path / "quick.yaml").write_text(FAILING.replace("NAME", "quick"))
    (tmp_path / "policy.yaml").write_text("model: quick\nwhen: [new-labels>=1000]\nevery: 1s\npipeline: quick.yaml\n")
    policy = cli(server, "retrain", "policy", "set", "--file", str(tmp_path / "policy.yaml"))
    assert policy["conditions"] == ["new-labels>=1000", "every 1s"] and policy["pipeline"]["name"] == "quick"
    assert client.retrain_policy("quick")["conditions"] == policy["conditions"]

    wait_for(lambda: len(client.retrain_triggers(model="quick")["items"]) == 1, timeout=30)  # the server's loop
    [trigger] = client.retrain_triggers(model="quick")["items"]
    assert trigger["kind"] == "schedule" and trigger["condition"] == "every 1s"
    job = client.job(trigger["job_id"], wait=True, timeout=30)
    assert job["kind"] == "retrain" and job["status"] == "failed"  # its pipeline names no dataset
    assert client.retrain_check()["items"] == []  # fired once: the cooldown (1 h) holds

    wait_for(lambda: len(receiver.requests) == 2, timeout=30)
    assert [json.loads(r.body)["event"] for r in receiver.requests] == ["retrain.triggered", "retrain.finished"]
    assert all(signed_correctly(r) for r in receiver.requests)
    deliveries = cli(server, "webhooks", "deliveries")
    assert {d["status"] for d in deliveries} == {"delivered"} and all(d["delivered_at"] for d in deliveries)

    client.remove_retrain_policy("quick")
    assert client.retrain_policies()["items"] == []
    with pytest.raises(NotFound):
        client.retrain_policy("quick")
    client.remove_webhook(added["id"])
    assert client.webhooks()["items"] == []
    actions = {e["action"] for e in client.audit(action="retrain.*", limit=100)["items"]}
    assert actions == {"retrain.policy.set", "retrain.policy.remove", "retrain.triggered", "retrain.finished"}
