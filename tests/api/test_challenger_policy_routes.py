"""The challenger promotion policy on a real server: its retraining loop proposes the better challenger by
itself (mode propose); REST, the Python client and the CLI (--remote) read the proposal and approve it;
the champion moves and the old one becomes the fallback (which roles may act: tests/api/test_authorization.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from crispml.client import Client
from crispml.errors import NotFound
from tests.api.conftest import CRISPML, Server
from tests.conftest import wait_for
from tests.services.test_challenger_policy import POLICY, template  # noqa: F401 (a fixture)


def test_the_servers_loop_proposes_and_a_person_approves_over_rest_and_the_cli(
    template: Path,  # noqa: F811 (the fixture imported above)
    home: Path,
    make_server: Callable[..., Server],
) -> None:
    shutil.copytree(template, home)
    policy = json.dumps({**POLICY, "mode": "propose"})
    server = make_server(CRISPML_CHALLENGER_POLICY=policy, CRISPML_RETRAIN_CHECK_INTERVAL_S="0.3").start()
    with Client(server.url, timeout=60) as client:
        wait_for(lambda: bool(client.challenger_proposals(model="fraud", status="open")["items"]), timeout=30)
        [proposal] = client.challenger_proposals(status="open")["items"]
        assert (proposal["champion"], proposal["challenger"]) == ("fraud/1", "fraud/2")
        assert proposal["figures"]["p_value"] < 0.05 and proposal["figures"]["records"] == 12_000
        [again] = client.challenger_check("fraud")["items"]
        assert (again["outcome"], again["proposal"], again["recorded"]) == ("proposed", proposal["id"], False)
        assert client.alias("fraud", "champion")["version"] == 1

        answer = httpx.get(f"{server.url}/api/v1/challenger/proposals", params={"status": "done"})
        assert answer.status_code == 422
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRISPML_")}
        done = subprocess.run([CRISPML, "challenger", "approve", "fraud", "--reason", "checked the figures",
                               "--remote", server.url, "--json"], env=env, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        approved = json.loads(done.stdout)
        assert approved["outcome"] == "approved" and approved["proposal"] == proposal["id"]
        assert client.alias("fraud", "champion")["version"] == 2
        assert client.alias("fraud", "fallback")["version"] == 1
        with pytest.raises(NotFound, match="no open challenger proposal"):
            client.reject_challenger("fraud", reason="too late")
        events = client.audit(action="challenger.*")["items"]
        assert [e["action"] for e in events] == ["challenger.approved", "challenger.proposed"]
        assert events[0]["principal"] == "api-tester" and events[0]["after"]["reason"].endswith("checked the figures")
