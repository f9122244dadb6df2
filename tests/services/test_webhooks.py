"""Webhooks through the Python API: only registered http(s) targets, signed JSON, retries with an
exponential backoff and a recorded failure, and a removed target never called."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from crispml.container import Container
from crispml.domain import AuditQuery
from crispml.errors import InvalidInput
from crispml.settings import Settings
from tests.services.test_retraining import FAILING

SECRET = "s3cret-for-tests"


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A small HTTP server that records every POST and answers `status`."""

    status: int = 204
    requests: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(Received(time.monotonic(), dict(self.headers), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


def signed_correctly(request: Received, secret: str = SECRET) -> bool:
    """What a receiver does: recompute the HMAC of `TIMESTAMP.BODY`, and refuse an old timestamp."""
    timestamp = request.headers["X-Crispml-Timestamp"]
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) < 300
    return fresh and hmac.compare_digest(request.headers["X-Crispml-Signature"], f"sha256={expected}")


@pytest.fixture
def c(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Container]:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    settings = Settings(home=tmp_path / "home", user="tester", database_url=None, webhook_max_attempts=3,  # type: ignore[call-arg]
                        webhook_backoff_s=0.2, webhook_timeout_s=2)  # fmt: skip
    with Container(settings) as container:
        yield container


def test_registered_targets_get_signed_payloads_and_a_failing_one_is_retried_then_recorded(c: Container) -> None:
    with Receiver() as good, Receiver(status=500) as failing, Receiver() as removed:
        hook = c.webhooks.add(good.url, ["retrain.triggered", "retrain.finished"], "HOOK_SECRET")
        c.webhooks.add(failing.url, ["retrain.finished"], "HOOK_SECRET")
        gone = c.webhooks.add(removed.url, ["retrain.triggered", "retrain.finished"], "HOOK_SECRET")
        c.retrain.set_policy("quick", [], FAILING.replace("NAME", "quick"), every="1s")
        time.sleep(1.05)
        [trigger] = c.retrain.wait(c.retrain.check(), 60)
        c.webhooks.remove(gone.id)  # its deliveries were queued: they are never sent
        assert good.requests == []  # nothing is sent on the evaluator's path
        c.webhooks.drain(20)

        assert [json.loads(r.body)["event"] for r in good.requests] == ["retrain.triggered", "retrain.finished"]
        assert all(signed_correctly(r) for r in good.requests)
        assert not signed_correctly(good.requests[0], "another secret")
        finished = json.loads(good.requests[1].body)
        assert finished["data"]["trigger"] == trigger.id and finished["data"]["status"] == "failed"
        assert finished["data"]["condition"] == "every 1s" and good.requests[1].headers["X-Crispml-Event"] == (
            "retrain.finished"
        )

        assert len(failing.requests) == 3  # the bounded attempts
        first_wait = failing.requests[1].at - failing.requests[0].at
        second_wait = failing.requests[2].at - failing.requests[1].at
        assert 0.19 <= first_wait < second_wait and second_wait >= 0.39  # 0.2 s, then twice that
        assert removed.requests == []

    delivered = c.webhooks.deliveries("delivered")
    assert len(delivered) == 2 and {d.target_id for d in delivered} == {hook.id}
    assert all(d.delivered_at is not None and d.attempts == 1 for d in delivered)
    failed = {d.url: d for d in c.webhooks.deliveries("failed")}
    assert failed[failing.url].attempts == 3 and failed[failing.url].last_error == "HTTP 500"
    assert failed[removed.url].attempts == 0 and failed[removed.url].last_error == "the target was removed"
    assert c.webhooks.deliveries("pending") == []
    assert (REGISTRY.get_sample_value("crispml_webhook_deliveries_total",
                                      {"event": "retrain.finished", "outcome": "failed"}) or 0) >= 1  # fmt: skip
    actions = [e.action for e in c.audit.events(AuditQuery(action="webhook.*"))[0]]
    assert sorted(actions) == ["webhook.add", "webhook.add", "webhook.add", "webhook.remove"]


@pytest.mark.parametrize(
    ("url", "events", "secret_env", "message"),
    [
        ("ftp://example.com/hook", ["retrain.finished"], "HOOK_SECRET", "only http:// and https:// targets"),
        ("file:///etc/passwd", ["retrain.finished"], "HOOK_SECRET", "only http:// and https:// targets"),
        ("/relative/hook", ["retrain.finished"], "HOOK_SECRET", "only http:// and https:// targets"),
        ("http://example.com/hook", ["model.deleted"], "HOOK_SECRET", "known: retrain.triggered, retrain.finished"),
        ("http://example.com/hook", ["retrain.finished"], "NOT_SET_ANYWHERE", "NOT_SET_ANYWHERE is not set"),
        ("http://example.com/hook", ["retrain.finished"], "a-b", "not an environment variable's name"),
    ],
)
def test_a_bad_target_is_refused_with_a_clear_error_and_nothing_is_stored(
    c: Container, url: str, events: list[str], secret_env: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        c.webhooks.add(url, events, secret_env)
    assert c.webhooks.list_targets() == []
    assert c.audit.events(AuditQuery(action="webhook.*"))[1] == 0
