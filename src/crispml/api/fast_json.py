"""JSON by orjson: scoring bodies and answers are mostly floats, which the standard library's json
parses and writes several times slower (a 1,000-record body: over half of the request's time)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

PARSED_BODY = "crispml.parsed_body"
"""Scope key of a JSON body an outer layer already parsed (the hot lane, for a request it passed on)."""
_ABSENT = object()


class _OrjsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            parsed = self.scope.pop(PARSED_BODY, _ABSENT)  # a 1,000-record body is not parsed twice
            if parsed is not _ABSENT:
                self._json = parsed
                return parsed
            try:
                self._json = orjson.loads(await self.body())
            except orjson.JSONDecodeError as exc:
                # FastAPI answers json.JSONDecodeError with a 422 naming the position; keep that answer.
                raise json.JSONDecodeError(str(exc), exc.doc, exc.pos) from None
        return self._json


class OrjsonResponse(Response):
    """A JSON answer written by orjson, straight from dicts, lists, str, int, float, bool and None."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class OrjsonRoute(APIRoute):
    """An APIRoute whose JSON body is parsed by orjson; validation and the OpenAPI schema are unchanged."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_orjson(request: Request) -> Response:
            return await handler(_OrjsonRequest(request.scope, request.receive))

        return with_orjson
