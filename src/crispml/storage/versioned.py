"""Inserting the next version of a named thing (a dataset, a model) when writers may race for the number."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import Connection, Table, insert, select
from sqlalchemy.exc import IntegrityError

from crispml.domain import Dataset, ModelVersion
from crispml.errors import Conflict

V = TypeVar("V", Dataset, ModelVersion)


def insert_versioned(
    connection: Connection,
    item: V,
    table: Table,
    row: Callable[[V], dict[str, Any]],
    next_version: Callable[[str], int],
) -> V:
    """Insert `item` as the next version of its name; returns it with the version it got.

    A name belongs to the project of its first version: Conflict if `item` is of another project, so a
    key scoped to one project never adds versions under a name another project uses (the refusal
    names neither the other project nor anything in it).
    """
    owner = connection.scalar(select(table.c.project).where(table.c.name == item.name).limit(1))
    if owner is not None and owner != item.project:
        raise Conflict(f"the name {item.name!r} belongs to another project; choose another name", field="name")
    # A concurrent writer may take the same number first (PostgreSQL runs both transactions at
    # once); the unique constraint refuses the second, which then takes the next number.
    for _attempt in range(20):
        candidate = replace(item, version=next_version(item.name))
        try:
            with connection.begin_nested():
                connection.execute(insert(table).values(**row(candidate)))
            return candidate
        except IntegrityError as exc:
            if "version" not in str(exc.orig):
                raise
    raise Conflict(f"could not find a free version number for {item.name!r}; retry")
