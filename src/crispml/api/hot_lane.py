"""The one-record scoring request answered below FastAPI's routing, dependencies and validation.

`POST /api/v1/models/{name}/score` with a JSON body of a few plain records, no query and no
`Idempotency-Key` is most of a scoring server's traffic. FastAPI's route matching, dependency solving
and body model cost more CPU than scoring and persisting such a request (about half its time on the
event loop), so this pure-ASGI middleware, the innermost of the app's own, takes it first:

- it reads the body, parses it with orjson and hands the records to `ScoringService.score_hot`, the
  same call the route makes, and answers with the route's own answer (`ScoreBatchAnswer`);
- anything else goes on to the app unchanged, the body it read replayed: a query, an idempotency key,
  another body shape, a name the route would refuse, a key not verified lately, a role not granted
  `score`, or whatever `score_hot` declines (records that are not plain numbers, a model not in
  memory). The route then answers, errors included, exactly as before.

So the route stays the one declaration of the method (its OpenAPI entry, its validation and errors);
this lane only answers, faster, the requests the route would answer with a hot score. The scope gets
the route, as the router would have set it, for the access line and the latency metric.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crispml.api.auth import bearer_key
from crispml.api.fast_json import PARSED_BODY, OrjsonResponse
from crispml.api.problems import for_error
from crispml.contract.requests import MAX_NAME
from crispml.contract.scoring import ScoreBatchAnswer
from crispml.domain.refs import ModelRef
from crispml.errors import CrispmlError
from crispml.identity import act_for_this_request
from crispml.permissions import GRANTS, Action

PREFIX = "/api/v1/models/"
SUFFIX = "/score"
_SCORERS = GRANTS[Action.SCORE]


@dataclass(frozen=True)
class MatchedRoute:
    """What the request observers read of the route the router would have matched (`scope["route"]`)."""

    name: str = "score"
    path: str = f"{PREFIX}{{name}}{SUFFIX}"
    path_format: str = f"{PREFIX}{{name}}{SUFFIX}"


SCORE_ROUTE = MatchedRoute()


class HotLane:
    """Pure-ASGI middleware that answers the hot one-record score requests itself (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = _hot_name(scope)
        services = getattr(scope["app"].state, "services", None) if name is not None else None
        if name is None or services is None:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        replay = _replaying(body, receive)
        records = _records(body, scope)
        hot = None
        if records is not None and _acting(services, scope["headers"]):
            hot = services.scoring.score_hot(str(ModelRef.of(name, alias="champion")), records)
        if hot is None:
            await self.app(scope, replay, send)
            return
        scope["route"] = SCORE_ROUTE
        try:
            # A client that goes away cancels the wait only: the batch is written all the same.
            await asyncio.wrap_future(hot.durable)
            answer: Response = OrjsonResponse(ScoreBatchAnswer.dump(hot.result()))
        except CrispmlError as exc:  # what the route's exception handler answers; anything else is a 500 there too
            answer = for_error(exc)
        await answer(scope, replay, send)


def _acting(services: Any, headers: list[tuple[bytes, bytes]]) -> bool:
    """Act as the request's principal when keys are on and its key was verified lately with a role that
    may score; False leaves the request to the route, which authenticates (or refuses) it itself."""
    if not services.settings.require_keys:
        return True
    authorization = next((value.decode("latin-1") for name, value in headers if name == b"authorization"), None)
    key = bearer_key(authorization)
    principal = None if key is None else services.access.cached(key)
    if principal is None or principal.role not in _SCORERS:
        return False
    act_for_this_request(principal)
    return True


def _hot_name(scope: Scope) -> str | None:
    """The model name of a hot score request's path, else None."""
    if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
        return None
    path: str = scope["path"]
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    name = path[len(PREFIX) : -len(SUFFIX)]
    if not 0 < len(name) <= MAX_NAME or "/" in name:
        return None
    for header, value in scope["headers"]:
        if header == b"idempotency-key":
            return None
        if header == b"content-type" and not value.startswith(b"application/json"):
            return None
    return name


def _records(body: bytes, scope: Scope) -> list[Any] | None:
    """The records of a `{"records": [...]}` body, else None (the route reads every other shape). The
    parsed body is left in the scope for the route, should the request go on to it."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    scope[PARSED_BODY] = parsed
    if type(parsed) is not dict or len(parsed) != 1:
        return None
    records = parsed.get("records")
    return records if type(records) is list and records else None


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then what `receive` gives (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
