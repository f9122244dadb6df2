"""Who is acting: a principal (a name, a role and the projects it may see), carried by the call.

The HTTP layer authenticates a request and runs the service call `acting_as` its principal; the CLI
without `--remote` acts as the local operating-system user (an admin of its own store). Services read
the acting principal's name for every row that records who did something, and the audit log records
it, so nothing is attributed to the server's own user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    STEWARD = "steward"  # ingest, prepare, curate, label, privacy tools
    SCIENTIST = "scientist"  # train, report, register versions; reads curated data
    SCORER = "scorer"  # score and label only, for business systems
    AUDITOR = "auditor"  # audit log, lineage, reports; no personal columns
    VIEWER = "viewer"  # metadata only


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    projects: frozenset[str] | None = None
    """The projects this principal may see; None: every project (an admin, the local user)."""


_acting: ContextVar[Principal | None] = ContextVar("crispml_acting_principal", default=None)


acting: Callable[[], Principal | None] = _acting.get
"""The principal the current call acts as, if an adapter said so. (The context variable's own `get`: every
request reads it several times, and a function around it was a Python call each time.)"""


@contextmanager
def acting_as(principal: Principal | None) -> Iterator[Principal | None]:
    token = _acting.set(principal)
    try:
        yield principal
    finally:
        _acting.reset(token)


_request_id: ContextVar[str | None] = ContextVar("crispml_request_id", default=None)


request_id: Callable[[], str | None] = _request_id.get
"""The id of the HTTP request the current call serves (set by the API's middleware), if any."""


def act_for_this_request(principal: Principal) -> None:
    """Act as `principal` for the rest of the HTTP request being served: `serving_request`, around the
    whole request, puts the previous principal back when it ends. (Cheaper than `acting_as` on the
    scoring path: FastAPI's plain async dependencies need no exit stack.)"""
    _acting.set(principal)


@contextmanager
def serving_request(request: str | None) -> Iterator[str | None]:
    """Run the block as part of request `request` (the audit log records it with every event); whoever
    the block comes to act as (`act_for_this_request`) is forgotten when it ends."""
    token = _request_id.set(request)
    acting_token = _acting.set(_acting.get())  # whoever acts now goes on acting; a change ends with the block
    try:
        yield request
    finally:
        _acting.reset(acting_token)
        _request_id.reset(token)
