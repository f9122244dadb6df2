"""The audit log's hash chain: canonical JSON, digests, event hashes, and the walk that checks them.

Each event's hash is the sha256 of a canonical JSON array of its fields (sequence number, time,
principal, action, resource, request id, the digests of its before and after states) and the previous
event's hash, so editing, deleting or reordering an event breaks the chain at that event. The format is
part of every stored hash: changing it makes every existing log fail verification. An event that records
the deployment's environment (dev, qa, prod) hashes it as one more, last, field; events written before
environments were recorded have none and hash as they always did.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crispml.errors import IntegrityFailure

GENESIS = "0" * 64
"""The "previous hash" of the first event."""


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)
"""Built once: `json.dumps` with options builds an encoder per call, which cost the hot path 10 us an event."""


def canonical(value: Any) -> str:
    """`value` as canonical JSON: sorted keys, no spaces, UTF-8 text kept (the same value, the same text)."""
    return _CANONICAL.encode(value)


def digest(text: str | None) -> str | None:
    """The sha256 of a state's canonical JSON text (None: no state)."""
    return None if text is None else hashlib.sha256(text.encode()).hexdigest()


def event_hash(
    seq: int,
    at: datetime,
    principal: str,
    action: str,
    resource: str,
    request_id: str | None,
    before_sha256: str | None,
    after_sha256: str | None,
    prev_hash: str,
    environment: str | None = None,
) -> str:
    """The hash of one event given the previous event's hash (`GENESIS` for the first)."""
    written = at.isoformat()
    return hashed_fields(seq, written, principal, action, resource, request_id, before_sha256, after_sha256,
                         prev_hash, environment)  # fmt: skip


def hashed_fields(seq: int, *texts: str | None) -> str:
    """`event_hash` with the time already written (`at.isoformat()`), which a group's events share: the
    sha256 of the canonical JSON array of the fields. The environment, the last, is left out when None."""
    fields: list[object] = [seq, *(texts if texts[-1] is not None else texts[:-1])]
    return hashlib.sha256(canonical(fields).encode()).hexdigest()


@dataclass(frozen=True)
class StoredEvent:
    """An event's columns as the table holds them."""

    seq: int
    at: datetime
    principal: str
    action: str
    resource: str
    request_id: str | None
    before_json: str | None
    after_json: str | None
    before_sha256: str | None
    after_sha256: str | None
    prev_hash: str
    hash: str
    environment: str | None = None

    def recomputed(self, seq: int | None = None) -> str:
        """The hash its fields give (at sequence number `seq`, default its own)."""
        return event_hash(
            self.seq if seq is None else seq,
            self.at,
            self.principal,
            self.action,
            self.resource,
            self.request_id,
            self.before_sha256,
            self.after_sha256,
            self.prev_hash,
            self.environment,
        )

    @property
    def label(self) -> str:
        return f"audit event {self.seq} ({self.action} {self.resource})"


def walk(events: Iterable[StoredEvent], head_seq: int, head_hash: str) -> int:
    """Check events in sequence order against each other and the chain's head; returns how many.

    Raises `IntegrityFailure` naming the first event edited, deleted or reordered.
    """
    expected, previous, last_hash = 1, GENESIS, GENESIS
    for event in events:
        if event.seq != expected:
            missing = f"{expected}" if event.seq == expected + 1 else f"{expected} to {event.seq - 1}"
            raise IntegrityFailure(f"audit event {missing} is missing: deleted from the log (found {event.label} next)")
        if digest(event.before_json) != event.before_sha256 or digest(event.after_json) != event.after_sha256:
            raise IntegrityFailure(f"{event.label} was edited: its before/after state does not match its digest")
        if event.recomputed() != event.hash:
            moved = _original_position(event, head_seq)
            if moved is not None:
                raise IntegrityFailure(f"{event.label} was reordered: it was recorded as event {moved}")
            raise IntegrityFailure(f"{event.label} was edited: its fields no longer match its hash")
        if event.prev_hash != previous:
            raise IntegrityFailure(
                f"{event.label} does not follow audit event {expected - 1}: "
                "an event before it was edited, deleted or reordered"
            )
        previous = last_hash = event.hash
        expected += 1
    checked = expected - 1
    if checked != head_seq:
        raise IntegrityFailure(
            f"audit event {checked + 1} is missing: deleted from the log (the log's head records {head_seq} events)"
        )
    if last_hash != head_hash:
        raise IntegrityFailure(f"audit event {checked} was edited or replaced: it is not the event the head recorded")
    return checked


def _original_position(event: StoredEvent, head_seq: int) -> int | None:
    """The sequence number under which `event`'s fields do give its hash, if any (it was moved)."""
    for seq in range(1, max(head_seq, event.seq) + 2):
        if seq != event.seq and event.recomputed(seq) == event.hash:
            return seq
    return None
