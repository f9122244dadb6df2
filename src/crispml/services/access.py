"""API users and their keys: create, list, revoke, rotate, and authenticate a presented key.

A key is `cml_<id>_<secret>`: 12 hex characters of public id (stored, for lookup) and 32 random bytes
of secret. Only a salted HMAC-SHA256 of the whole key is stored; a key is shown once, when created or
rotated. Keys are random tokens, not passwords, so a fast digest is as strong as a slow KDF would be
and keeps authentication off the scoring path's budget.

`authenticate` keeps verified keys in memory for `CACHE_TTL_S`: a hit costs a dictionary look-up, and a
revocation or rotation in any process takes effect here within that time. `login` adds the limit on
failed logins: `MAX_FAILURES` refusals of one key id from one address within `FAILURE_WINDOW_S` refuse
that pair (even with the right secret) until the oldest ages out. The failures are kept in the database,
so every worker process, and every server on the same database, counts the same ones.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from crispml.domain import ApiUser
from crispml.domain.refs import check_name
from crispml.errors import AdminRequired, InvalidInput, TooManyAttempts, Unauthorized
from crispml.identity import Principal, Role
from crispml.ports import Storage
from crispml.services.base import Service, now

KEY_PREFIX = "cml_"
_KEY_ID_CHARS = 12
CACHE_TTL_S = 2.0
"""How long a verified key is trusted without reading the database again (revocation's delay)."""
_CACHE_MAX = 10_000
MAX_FAILURES = 10
FAILURE_WINDOW_S = 60.0


@dataclass(frozen=True)
class IssuedKey:
    """A user and its key: the only time the key is seen."""

    user: ApiUser
    key: str


def key_id_of(key: str) -> str | None:
    """The public id inside a key, or None if the text is not shaped like a crispml key."""
    if not key.startswith(KEY_PREFIX) or len(key) < len(KEY_PREFIX) + _KEY_ID_CHARS + 2:
        return None
    key_id = key[len(KEY_PREFIX) : len(KEY_PREFIX) + _KEY_ID_CHARS]
    if key[len(KEY_PREFIX) + _KEY_ID_CHARS] != "_" or not all(c in "0123456789abcdef" for c in key_id):
        return None
    return key_id


def _digest(salt: str, key: str) -> str:
    return hmac.new(bytes.fromhex(salt), key.encode(), hashlib.sha256).hexdigest()


def _new_key() -> tuple[str, str, str, str]:
    """A fresh key with its id, salt and digest."""
    key_id = secrets.token_hex(_KEY_ID_CHARS // 2)
    key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    salt = secrets.token_hex(16)
    return key, key_id, salt, _digest(salt, key)


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r}; choose {choices}", field="role") from None


def principal_of(user: ApiUser) -> Principal:
    projects = None if user.projects is None else frozenset(user.projects)
    return Principal(user.name, Role(user.role), projects)


class AccessService(Service):
    """API users for the local CLI (acting on the store directly) and key checks for the HTTP layer."""

    def __init__(self, store: Storage, user: str, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(store, user)
        self._clock = clock
        self._verified: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    # -- management -----------------------------------------------------------------------------
    def create(self, name: str, role: str, projects: Iterable[str] | None = None) -> IssuedKey:
        """A new user with a new key (shown once, here); `projects` None or empty: every project."""
        check_name(name, "user name")
        chosen_role = _role(role)
        scoped = tuple(sorted({check_name(p, "project") for p in projects or ()})) or None
        key, key_id, salt, digest = _new_key()
        user = ApiUser(name, chosen_role.value, scoped, key_id, salt, digest, self.user, now())
        with self.store.transaction() as uow:
            uow.principals.add(user)
            uow.audit.append(action="users.create", resource=f"user:{name}", after=_user_state(user))
        return IssuedKey(user, key)

    def list_users(self) -> list[ApiUser]:
        with self.store.reading() as uow:
            return uow.principals.list_users()

    def revoke(self, name: str) -> ApiUser:
        """Revoke a user's key; it is refused everywhere within `CACHE_TTL_S`."""
        with self.store.transaction() as uow:
            user = uow.principals.get(name)
            if user.revoked_at is None:
                uow.principals.revoke(name, now())
                uow.audit.append(action="users.revoke", resource=f"user:{name}", before=_user_state(user),
                                 after=_user_state(uow.principals.get(name)))  # fmt: skip
            return uow.principals.get(name)

    def rotate(self, name: str) -> IssuedKey:
        """A new key for `name` (shown once, here); the old one is refused within `CACHE_TTL_S`."""
        key, key_id, salt, digest = _new_key()
        with self.store.transaction() as uow:
            user = uow.principals.get(name)
            if user.revoked_at is not None:
                raise InvalidInput(f"user {name!r} is revoked; create a new user instead", field="name")
            uow.principals.replace_key(name, key_id, salt, digest, now())
            rotated = uow.principals.get(name)
            uow.audit.append(action="users.rotate", resource=f"user:{name}", before=_user_state(user),
                             after=_user_state(rotated))  # fmt: skip
            return IssuedKey(rotated, key)

    def login(self, key: str, address: str) -> Principal:
        """`authenticate`, limited: TooManyAttempts once `key`'s id failed `MAX_FAILURES` times from
        `address` within `FAILURE_WINDOW_S`; each refusal is recorded and audited."""
        cached = self.cached(key)
        if cached is not None:
            return cached
        key_id = key_id_of(key) or "malformed"
        window = timedelta(seconds=FAILURE_WINDOW_S)
        with self.store.reading() as uow:
            failures, oldest = uow.principals.failed_logins_since(key_id, address, now() - window)
        if failures >= MAX_FAILURES and oldest is not None:
            retry_after = max(1, int((oldest + window - now()).total_seconds() + 0.999))
            raise TooManyAttempts(
                f"too many failed logins from {address}; retry after {retry_after} s", retry_after=retry_after
            )
        try:
            return self.authenticate(key)
        except Unauthorized:
            self._record_failed_login(key_id, address)
            raise

    def _record_failed_login(self, key_id: str, address: str) -> None:
        """Count a refused key (its public id, never the key) from `address`, and audit it."""
        at = now()
        with self.store.transaction() as uow:
            uow.principals.add_failed_login(key_id, address, at, at - timedelta(seconds=FAILURE_WINDOW_S))
            uow.audit.append(action="auth.failed", resource=f"key:{key_id}", after={"address": address},
                             principal="anonymous")  # fmt: skip

    def require_admin(self, why: str) -> None:
        """Raise AdminRequired unless an admin user (not revoked) exists."""
        with self.store.reading() as uow:
            if uow.principals.active_admins() == 0:
                raise AdminRequired(
                    f"{why} requires API keys and no admin user exists; "
                    "create one with `crispml users create NAME --role admin`"
                )

    # -- authentication -------------------------------------------------------------------------
    def cached(self, key: str) -> Principal | None:
        """The principal of a key verified within `CACHE_TTL_S`, without reading anything; else None."""
        cached = self._verified.get(key)
        return cached[1] if cached is not None and cached[0] > self._clock() else None

    def authenticate(self, key: str) -> Principal:
        """The principal a key belongs to; Unauthorized if it is malformed, unknown, revoked or rotated away."""
        at = self._clock()
        cached = self._verified.get(key)
        if cached is not None and cached[0] > at:
            return cached[1]
        key_id = key_id_of(key)
        if key_id is None:
            raise Unauthorized("the API key is not a crispml key (cml_...)")
        with self.store.reading() as uow:
            user = uow.principals.by_key_id(key_id)
        if user is None or not hmac.compare_digest(_digest(user.key_salt, key), user.key_digest):
            raise Unauthorized("the API key is not valid: unknown, mistyped or rotated away")
        if user.revoked_at is not None:
            raise Unauthorized(f"the API key of {user.name!r} was revoked")
        principal = principal_of(user)
        with self._lock:
            if len(self._verified) >= _CACHE_MAX:
                self._verified = {k: v for k, v in self._verified.items() if v[0] > at}
            self._verified[key] = (at + CACHE_TTL_S, principal)
        return principal


def _user_state(user: ApiUser) -> dict[str, object]:
    """What the audit log keeps of a user: never the key's digest or salt, only its public id."""
    return {"role": user.role, "projects": user.projects, "key_id": user.key_id,
            "revoked": user.revoked_at is not None}  # fmt: skip
