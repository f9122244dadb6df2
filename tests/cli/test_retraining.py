"""`crispml retrain` and `crispml webhooks` on a local store: `retrain check` runs the triggered
pipeline here to its end and sends the webhooks before it returns; bad input exits 2 naming the problem."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.cli.conftest import Cli
from tests.services.test_retraining import FAILING
from tests.services.test_webhooks import SECRET, Receiver, signed_correctly


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the services' tests cover PostgreSQL


def test_a_local_check_runs_the_trigger_and_sends_its_webhooks(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCAL_HOOK_SECRET", SECRET)
    pipeline = tmp_path / "quick.yaml"
    pipeline.write_text(FAILING.replace("NAME", "quick"))
    with Receiver() as receiver:
        cli("webhooks", "add", receiver.url, "--events", "retrain.finished", "--secret-from-env", "LOCAL_HOOK_SECRET")
        assert "of no known kind" in cli("retrain", "policy", "set", "quick", "--when", "labels>3", "--pipeline",
                                         str(pipeline), expect=2)  # fmt: skip
        set_ = cli(
            "retrain", "policy", "set", "quick", "--every", "1s", "--cooldown", "0s", "--pipeline", str(pipeline)
        )
        assert "retraining policy of quick: every 1s" in set_
        time.sleep(1.05)
        [trigger] = cli("retrain", "check", "--json")
        assert trigger["status"] == "failed" and "ds-missing" in trigger["error"]  # it ran here, to its end
        [sent] = receiver.requests  # and its webhook went out before the command returned
        assert signed_correctly(sent) and json.loads(sent.body)["data"]["trigger"] == trigger["id"]
    [delivery] = cli("webhooks", "deliveries", "--json")
    assert delivery["status"] == "delivered" and delivery["attempts"] == 1
