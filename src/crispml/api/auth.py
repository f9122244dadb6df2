"""The one authorization dependency every route goes through (attached app-wide in `create_app`).

It reads the route's action from `crispml.permissions.ROUTE_ACTIONS` by the route's name (a name
missing there is refused: fail closed), lets PUBLIC routes through without a key, and otherwise, when
keys are on (`Settings.require_keys`), authenticates `Authorization: Bearer <key>` (401 without or with
a wrong key, 429 after too many failures), refuses a role the action is not granted to (403) and runs
the rest of the request acting as the key's principal. With keys off every request acts as the
server's user with the admin role, as before keys existed.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from fastapi import Request

from crispml.api.deps import Services
from crispml.errors import Forbidden, TooManyAttempts, Unauthorized
from crispml.identity import act_for_this_request
from crispml.permissions import GRANTS, ROUTE_ACTIONS, Action
from crispml.services.access import key_id_of

MAX_FAILURES = 10
FAILURE_WINDOW_S = 60.0
_MAX_TRACKED = 10_000


class FailedLogins:
    """Failed logins per (key id, client address) over the last `window_s`, in this process's memory.

    After `limit` failures within the window, that pair is refused (429) until the oldest failure ages
    out, even with the right key: guessing costs a minute per `limit` tries.
    """

    def __init__(self, limit: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def check(self, who: tuple[str, str]) -> None:
        """Raise TooManyAttempts if `who` failed `limit` times within the window."""
        failures = self._failures.get(who)
        if failures is None:
            return
        at = self._clock()
        while failures and failures[0] <= at - self.window_s:
            failures.popleft()
        if len(failures) >= self.limit:
            retry_after = max(1, int(failures[0] + self.window_s - at + 0.999))
            raise TooManyAttempts(
                f"too many failed logins from {who[1]}; retry after {retry_after} s", retry_after=retry_after
            )

    def failed(self, who: tuple[str, str]) -> None:
        if len(self._failures) >= _MAX_TRACKED:  # bounded: forget pairs whose failures all aged out
            cutoff = self._clock() - self.window_s
            self._failures = {k: v for k, v in self._failures.items() if v and v[-1] > cutoff}
        self._failures.setdefault(who, deque(maxlen=self.limit)).append(self._clock())


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, key = header.partition(" ")
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
    key = _bearer(request)
    if key is None:
        raise Unauthorized("an API key is required: send Authorization: Bearer <key>")
    principal = services.access.cached(key)
    if principal is None:
        who = (key_id_of(key) or "malformed", request.client.host if request.client else "unknown")
        failed_logins: FailedLogins = request.app.state.failed_logins
        failed_logins.check(who)
        try:
            principal = await services.blocking(lambda: services.access.authenticate(key))
        except Unauthorized:
            failed_logins.failed(who)
            await services.blocking(lambda: services.access.record_failed_login(*who))
            raise
    if principal.role not in GRANTS[action]:
        raise Forbidden(f"role {principal.role.value} may not {action.value} (user {principal.name!r})")
    act_for_this_request(principal)
