"""The one authorization dependency every route goes through (attached app-wide in `create_app`).

It reads the route's action from `crispml.permissions.ROUTE_ACTIONS` by the route's name (a name
missing there is refused: fail closed), lets PUBLIC routes through without a key, and otherwise, when
keys are on (`Settings.require_keys`), authenticates `Authorization: Bearer <key>` (401 without or with
a wrong key, 429 after too many failures: see `crispml.services.access`), refuses a role the action
is not granted to (403) and runs the rest of the request acting as the key's principal. With keys off
every request acts as the server's user with the admin role, as before keys existed.
"""

from __future__ import annotations

from fastapi import Request

from crispml.api.deps import Services
from crispml.errors import Forbidden, Unauthorized
from crispml.identity import act_for_this_request
from crispml.permissions import GRANTS, ROUTE_ACTIONS, Action


def bearer_key(authorization: str | None) -> str | None:
    """The key of an `Authorization: Bearer <key>` header's value, else None."""
    if authorization is None:
        return None
    scheme, _, key = authorization.partition(" ")
    return key.strip() if scheme.lower() == "bearer" and key.strip() else None


async def authorize(request: Request) -> None:
    """Refuse the request unless its key's role may do the route's action; then act as that principal."""
    route = request.scope.get("route")
    name = getattr(route, "name", None)
    action = ROUTE_ACTIONS.get(name or "")
    if action is None:  # a route nobody classified is nobody's: fail closed
        raise Forbidden(f"route {name!r} is not in the permission table; it answers nobody")
    services: Services = request.app.state.services
    if action is Action.PUBLIC or not services.settings.require_keys:
        return
    key = bearer_key(request.headers.get("authorization"))
    if key is None:
        raise Unauthorized("an API key is required: send Authorization: Bearer <key>")
    principal = services.access.cached(key)
    if principal is None:  # not verified within the last seconds: the database decides, off the event loop
        address = request.client.host if request.client else "unknown"
        principal = await services.blocking(lambda: services.access.login(key, address))
    if principal.role not in GRANTS[action]:
        raise Forbidden(f"role {principal.role.value} may not {action.value} (user {principal.name!r})")
    act_for_this_request(principal)
