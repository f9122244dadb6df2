"""Repository of API users: who holds a key, with which role and projects. Keys are never stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from crispml.domain import ApiUser
from crispml.errors import Conflict, NotFound
from crispml.storage import schema as t


class PrincipalRepository:
    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(self, user: ApiUser) -> None:
        """Insert a user; Conflict if the name is taken (a revoked user's name too: records still name it)."""
        if self.connection.scalar(select(t.api_users.c.name).where(t.api_users.c.name == user.name)) is not None:
            raise Conflict(f"user {user.name!r} exists already; choose another name", field="name")
        self.connection.execute(insert(t.api_users).values(**_row(user)))

    def get(self, name: str) -> ApiUser:
        row = self.connection.execute(select(t.api_users).where(t.api_users.c.name == name)).mappings().first()
        if row is None:
            raise NotFound(f"user {name!r} does not exist", field="name")
        return _user(row)

    def by_key_id(self, key_id: str) -> ApiUser | None:
        """The user whose current key has this public id (revoked or not), if any."""
        query = select(t.api_users).where(t.api_users.c.key_id == key_id)
        row = self.connection.execute(query).mappings().first()
        return None if row is None else _user(row)

    def list_users(self) -> list[ApiUser]:
        query = select(t.api_users).order_by(t.api_users.c.created_at, t.api_users.c.name)
        return [_user(row) for row in self.connection.execute(query).mappings()]

    def replace_key(self, name: str, key_id: str, key_salt: str, key_digest: str, at: datetime) -> None:
        """Give `name` a new key; the old one stops matching at once (its id is gone)."""
        self.connection.execute(
            update(t.api_users)
            .where(t.api_users.c.name == name)
            .values(key_id=key_id, key_salt=key_salt, key_digest=key_digest, rotated_at=at)
        )

    def revoke(self, name: str, at: datetime) -> None:
        self.connection.execute(update(t.api_users).where(t.api_users.c.name == name).values(revoked_at=at))

    def active_admins(self) -> int:
        query = select(t.api_users.c.name).where(t.api_users.c.role == "admin", t.api_users.c.revoked_at.is_(None))
        return len(self.connection.scalars(query).all())

    def add_failed_login(self, key_id: str, address: str, at: datetime, forget_before: datetime) -> None:
        """Record a refused key from `address`, and forget failures older than `forget_before` (anyone's)."""
        self.connection.execute(delete(t.failed_logins).where(t.failed_logins.c.at < forget_before))
        self.connection.execute(insert(t.failed_logins).values(key_id=key_id[:32], address=address[:64], at=at))

    def failed_logins_since(self, key_id: str, address: str, since: datetime) -> tuple[int, datetime | None]:
        """How many times `key_id` was refused from `address` since `since`, and the oldest of them."""
        f = t.failed_logins.c
        query = select(func.count(), func.min(f.at)).where(
            f.key_id == key_id[:32], f.address == address[:64], f.at >= since
        )
        count, oldest = self.connection.execute(query).one()
        return int(count), oldest


def _row(user: ApiUser) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "projects": None if user.projects is None else list(user.projects),
        "key_id": user.key_id,
        "key_salt": user.key_salt,
        "key_digest": user.key_digest,
        "created_by": user.created_by,
        "created_at": user.created_at,
        "rotated_at": user.rotated_at,
        "revoked_at": user.revoked_at,
    }


def _user(row: Any) -> ApiUser:
    projects = row["projects"]
    return ApiUser(
        name=row["name"],
        role=row["role"],
        projects=None if projects is None else tuple(projects),
        key_id=row["key_id"],
        key_salt=row["key_salt"],
        key_digest=row["key_digest"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        rotated_at=row["rotated_at"],
        revoked_at=row["revoked_at"],
    )
