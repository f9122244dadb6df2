"""Repository of webhook targets an admin registered, and the outbox of their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.engine import RowMapping

from crispml.domain.policies import WebhookDelivery, WebhookTarget
from crispml.errors import NotFound
from crispml.storage import schema as t

_TARGET = t.webhook_targets
_DELIVERY = t.webhook_deliveries


class WebhookRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add_target(self, target: WebhookTarget) -> None:
        self.connection.execute(insert(_TARGET).values(**{**vars(target), "events": list(target.events)}))

    def get_target(self, target_id: str) -> WebhookTarget:
        row = self.connection.execute(select(_TARGET).where(_TARGET.c.id == target_id)).mappings().first()
        if row is None:
            raise NotFound(f"webhook target {target_id!r} is not registered")
        return _target(row)

    def list_targets(self) -> list[WebhookTarget]:
        rows = self.connection.execute(select(_TARGET).order_by(_TARGET.c.created_at, _TARGET.c.id)).mappings()
        return [_target(row) for row in rows]

    def remove_target(self, target_id: str) -> None:
        if self.connection.execute(delete(_TARGET).where(_TARGET.c.id == target_id)).rowcount == 0:
            raise NotFound(f"webhook target {target_id!r} is not registered")
        # Its pending deliveries die with it: only a registered target is ever called.
        self.connection.execute(
            update(_DELIVERY)
            .where(_DELIVERY.c.target_id == target_id, _DELIVERY.c.status == "pending")
            .values(status="failed", last_error="the target was removed")
        )

    def enqueue(self, deliveries: list[WebhookDelivery]) -> None:
        if deliveries:
            self.connection.execute(insert(_DELIVERY), [vars(d) for d in deliveries])

    def due(self, at: datetime, limit: int) -> list[WebhookDelivery]:
        query = (
            select(_DELIVERY)
            .where(_DELIVERY.c.status == "pending", _DELIVERY.c.next_attempt_at <= at)
            .order_by(_DELIVERY.c.next_attempt_at, _DELIVERY.c.id)
            .limit(limit)
        )
        return [WebhookDelivery(**row) for row in self.connection.execute(query).mappings()]

    def claim(self, delivery: WebhookDelivery, until: datetime) -> bool:
        """Take one attempt of a pending delivery (until `until`, when another dispatcher may retry it);
        True for exactly one of several dispatchers that read it at the same attempt count."""
        query = (
            update(_DELIVERY)
            .where(
                _DELIVERY.c.id == delivery.id,
                _DELIVERY.c.status == "pending",
                _DELIVERY.c.attempts == delivery.attempts,
            )
            .values(attempts=delivery.attempts + 1, next_attempt_at=until)
        )
        return bool(self.connection.execute(query).rowcount == 1)

    def record(self, delivery_id: str, **values: Any) -> None:
        self.connection.execute(update(_DELIVERY).where(_DELIVERY.c.id == delivery_id).values(**values))

    def list_deliveries(self, status: str | None, limit: int) -> list[WebhookDelivery]:
        query = select(_DELIVERY).order_by(_DELIVERY.c.created_at.desc(), _DELIVERY.c.id).limit(limit)
        if status is not None:
            query = query.where(_DELIVERY.c.status == status)
        return [WebhookDelivery(**row) for row in self.connection.execute(query).mappings()]


def _target(row: RowMapping) -> WebhookTarget:
    return WebhookTarget(**{**row, "events": tuple(row["events"])})
