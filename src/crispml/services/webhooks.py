"""Webhooks: URLs an admin registered, told of events with signed JSON, off the request path.

An event becomes one delivery row per subscribed target, in the transaction of the change it tells of
(an outbox). A dispatcher (`deliver_due`, run by the server's background loop or once by the CLI) claims
due deliveries with a conditional update, so of several processes exactly one sends each attempt.
A failed attempt is retried after an exponentially growing delay, at most `max_attempts` times, and
then recorded as failed. Only registered targets are ever called; redirects are not followed.

Each request carries `X-Crispml-Timestamp` (Unix seconds) and `X-Crispml-Signature: sha256=HEX`, the
HMAC-SHA256 of `TIMESTAMP.BODY` under the target's secret (read from the server's environment variable
the admin named): a receiver recomputes it and refuses old timestamps, so a replayed request fails.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import orjson

from crispml.domain.policies import WebhookDelivery, WebhookTarget
from crispml.errors import InvalidInput, NotFound
from crispml.observability import metrics
from crispml.ports import Storage, UnitOfWork
from crispml.services.base import Service, new_id, now

_CHALLENGER = ("wait", "kept", "refused", "promoted", "proposed", "approved", "rejected")
EVENTS = ("retrain.triggered", "retrain.finished", *(f"challenger.{outcome}" for outcome in _CHALLENGER))
"""What a target may subscribe to."""
SIGNATURE_HEADER = "X-Crispml-Signature"
TIMESTAMP_HEADER = "X-Crispml-Timestamp"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_BATCH = 50
log = logging.getLogger("crispml.webhooks")


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The signature header's value: `sha256=` and the HMAC-SHA256 of `TIMESTAMP.BODY`."""
    return "sha256=" + hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def check_url(url: str) -> str:
    """`url` if it is an absolute http or https URL with a host; InvalidInput saying why not."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise InvalidInput(f"webhook URL {url!r} is not a URL: {exc}", field="url") from None
    if parsed.scheme not in ("http", "https"):
        raise InvalidInput(f"webhook URL {url!r}: only http:// and https:// targets are called "
                           f"(not {parsed.scheme or 'a relative URL'})", field="url")  # fmt: skip
    if not parsed.host:
        raise InvalidInput(f"webhook URL {url!r} names no host", field="url")
    return str(parsed)


def enqueue(uow: UnitOfWork, event: str, data: dict[str, Any]) -> int:
    """One delivery of `event` per target subscribed to it, in `uow`'s transaction; how many."""
    at = now()
    deliveries = [
        WebhookDelivery(
            id=new_id("whd"),
            target_id=target.id,
            url=target.url,
            event=event,
            payload={"event": event, "created_at": at.isoformat(), "data": data},
            status="pending",
            attempts=0,
            next_attempt_at=at,
            created_at=at,
        )
        for target in uow.webhooks.list_targets()
        if event in target.events
    ]
    uow.webhooks.enqueue(deliveries)
    return len(deliveries)


class WebhookService(Service):
    def __init__(self, store: Storage, user: str, max_attempts: int = 5, backoff_s: float = 2.0,
                 timeout_s: float = 5.0) -> None:  # fmt: skip
        super().__init__(store, user)
        self.max_attempts, self.backoff_s, self.timeout_s = max_attempts, backoff_s, timeout_s

    def add(self, url: str, events: list[str], secret_env: str) -> WebhookTarget:
        """Register a target (admin). InvalidInput for a URL that is not http(s), an unknown event, or a
        secret variable that is not set where the server runs."""
        url = check_url(url)
        unknown = sorted(set(events) - set(EVENTS))
        if not events or unknown:
            raise InvalidInput(f"unknown webhook events {unknown or events}; known: {', '.join(EVENTS)}",
                               field="events")  # fmt: skip
        if not _ENV_NAME.fullmatch(secret_env):
            raise InvalidInput(f"{secret_env!r} is not an environment variable's name", field="secret_env")
        if not os.environ.get(secret_env):
            raise InvalidInput(f"the environment variable {secret_env} is not set (or empty) where the server runs: "
                               "set it to the shared secret first", field="secret_env")  # fmt: skip
        target = WebhookTarget(new_id("wh"), url, tuple(dict.fromkeys(events)), secret_env, self.user, now())
        with self.store.transaction() as uow:
            uow.webhooks.add_target(target)
            uow.audit.append(action="webhook.add", resource=f"webhook:{target.id}",
                             after={"url": url, "events": list(target.events), "secret_env": secret_env})  # fmt: skip
        return target

    def list_targets(self) -> list[WebhookTarget]:
        with self.store.reading() as uow:
            return uow.webhooks.list_targets()

    def remove(self, target_id: str) -> None:
        """Forget a target; its pending deliveries are never sent."""
        with self.store.transaction() as uow:
            target = uow.webhooks.get_target(target_id)
            uow.webhooks.remove_target(target_id)
            uow.audit.append(action="webhook.remove", resource=f"webhook:{target_id}",
                             before={"url": target.url, "events": list(target.events)})  # fmt: skip

    def deliveries(self, status: str | None = None, limit: int = 100) -> list[WebhookDelivery]:
        """Deliveries newest first: pending, delivered or failed, with attempts and the last error."""
        if status is not None and status not in ("pending", "delivered", "failed"):
            raise InvalidInput(f"status {status!r}: one of pending, delivered, failed", field="status")
        with self.store.reading() as uow:
            return uow.webhooks.list_deliveries(status, limit)

    def deliver_due(self) -> int:
        """Send every delivery due now (one attempt each); how many attempts this process made."""
        with self.store.reading() as uow:
            due = uow.webhooks.due(now(), _BATCH)
        if not due:  # the usual poll: no HTTP client (its TLS context alone costs milliseconds of CPU)
            return 0
        sent = 0
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as http:
            for delivery in due:
                # Claimed for the attempt's length: if this process dies mid-way, another retries after it.
                with self.store.transaction() as uow:
                    claimed = uow.webhooks.claim(delivery, now() + timedelta(seconds=self.timeout_s * 2 + 5))
                if claimed:
                    self._attempt(http, delivery, delivery.attempts + 1)
                    sent += 1
        return sent

    def drain(self, within_s: float) -> None:
        """Deliver until nothing is pending or `within_s` passed (a one-shot CLI run's retries)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            self.deliver_due()
            if not self.deliveries("pending", 1):
                return
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def serve(self, stopping: threading.Event, poll_s: float) -> None:
        """Deliver due deliveries every `poll_s` until `stopping` is set (the server's dispatcher thread)."""
        while not stopping.wait(poll_s):
            try:
                self.deliver_due()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("webhook deliveries failed; retrying at the next poll")

    def _attempt(self, http: httpx.Client, delivery: WebhookDelivery, attempt: int) -> None:
        error = self._post(http, delivery)
        if error is None:
            values: dict[str, Any] = {"status": "delivered", "delivered_at": now(), "last_error": None}
            outcome = "delivered"
        elif attempt >= self.max_attempts:
            values, outcome = {"status": "failed", "last_error": error}, "failed"
        else:
            delay = self.backoff_s * 2 ** (attempt - 1)
            values = {"last_error": error, "next_attempt_at": now() + timedelta(seconds=delay)}
            outcome = "retried"
        with self.store.transaction() as uow:
            uow.webhooks.record(delivery.id, **values)
        metrics.webhook_delivered(delivery.event, outcome)
        log.info("webhook %s to %s: attempt %d %s%s", delivery.event, delivery.url, attempt, outcome,
                 f" ({error})" if error else "", extra={"delivery": delivery.id, "outcome": outcome})  # fmt: skip

    def _post(self, http: httpx.Client, delivery: WebhookDelivery) -> str | None:
        """None when the target answered 2xx, else what went wrong."""
        with self.store.reading() as uow:
            try:
                target = uow.webhooks.get_target(delivery.target_id)
            except NotFound:
                return "the target is no longer registered"
        secret = os.environ.get(target.secret_env)
        if not secret:
            return f"the secret variable {target.secret_env} is not set where the server runs"
        body = orjson.dumps({"id": delivery.id, **delivery.payload})
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(secret.encode(), timestamp, body), "X-Crispml-Event": delivery.event,
                   "X-Crispml-Delivery": delivery.id, "User-Agent": "crispml-webhooks"}  # fmt: skip
        try:
            response = http.post(target.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"{type(exc).__name__}: {exc}"[:500]
        return None if response.is_success else f"HTTP {response.status_code}"
