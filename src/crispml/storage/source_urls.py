"""Where a registered source lives: checked when an admin adds it, resolved only when connecting.

A database URL may carry its password only as a reference, resolved at connect time and never stored:
`postgresql+psycopg://reader:${PGPASSWORD}@db.example/warehouse` (an environment variable) or
`postgresql+psycopg://reader:@file:/run/secrets/pg@db.example/warehouse` (a file's first line). A
literal password is refused, and so are URL options that could turn off the read-only session. Nothing
here puts a location, a resolved URL or a secret into a message.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from crispml.domain import SourceKind
from crispml.errors import InvalidInput, Unavailable

_SECRET = re.compile(
    r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:@/]*):"
    r"(?P<secret>\$\{(?P<env>[A-Za-z_][A-Za-z0-9_]*)\}|@file:(?P<file>/[^@]+))@(?P<tail>.+)$",
    re.DOTALL,
)
_PLACEHOLDER = "crispml-secret-reference"
# Connection options a source URL may set; anything else (options=, host=, password=...) could point the
# session elsewhere or turn off its read-only setting.
_ALLOWED_QUERY = frozenset({"sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name"})
_LOOPBACK = frozenset({"", "localhost", "127.0.0.1", "::1"})


def check_location(location: str, own_database_url: str) -> tuple[SourceKind, str]:
    """The kind of a location an admin registers, and the form stored; InvalidInput says what is wrong.

    Messages name the problem, never the location (it may hold a secret typed by mistake).
    """
    if "\x00" in location or not location.strip():
        raise InvalidInput("a source location must be a database URL or a folder", field="url")
    try:
        return _checked(location, own_database_url)
    except (OSError, ValueError):  # a name the file system cannot hold (too long, unencodable)
        raise InvalidInput("the source location cannot be used as a URL or a folder name", field="url") from None


def _checked(location: str, own_database_url: str) -> tuple[SourceKind, str]:
    location.encode("utf-8")  # a lone surrogate names no host, database or folder (and no database stores it)
    if location.startswith("file://") or location.startswith("/"):
        return SourceKind.FILES, _check_folder(location.removeprefix("file://"))
    url = _template(location)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return SourceKind.SQL, _check_sqlite(url, own_database_url)
    if backend == "postgresql":
        return SourceKind.SQL, _check_postgresql(location, url, own_database_url)
    raise InvalidInput(
        f"database kind {backend!r} is not supported as a source: register sqlite:///path or "
        "postgresql+psycopg://user:${ENV_VAR}@host/db",
        field="url",
    )


def resolve(location: str, source: str) -> URL:
    """The URL to connect with, its password read from the environment or file it references.

    InvalidInput names the source and the missing variable (never its value); files are not named.
    """
    match = _SECRET.match(location)
    if match is None:
        return make_url(location)
    if match["env"]:
        password = os.environ.get(match["env"])
        if not password:
            raise Unavailable(f"source {source!r}: its password variable {match['env']} is not set on the server")
    else:
        try:
            password = Path(match["file"]).read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, UnicodeDecodeError, IndexError):
            raise Unavailable(f"source {source!r}: its password file cannot be read on the server") from None
    return make_url(f"{match['head']}@{match['tail']}").set(password=password)


def _template(location: str) -> URL:
    """The URL with any secret reference replaced by a placeholder; a literal password is refused."""
    match = _SECRET.match(location)
    text = location if match is None else f"{match['head']}:{_PLACEHOLDER}@{match['tail']}"
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise InvalidInput("the source URL cannot be parsed: use sqlite:///path or postgresql+psycopg://user:"
                           "${ENV_VAR}@host/db", field="url") from None  # fmt: skip
    if url.password is not None and url.password != _PLACEHOLDER:
        raise InvalidInput(
            "a source URL must not hold a password: reference it as ${ENV_VAR} or @file:/path, e.g. "
            "postgresql+psycopg://reader:${PGPASSWORD}@host/db",
            field="url",
        )
    unknown = sorted(set(url.query) - _ALLOWED_QUERY)
    if unknown:
        raise InvalidInput(f"source URL option(s) {', '.join(unknown)} are not allowed", field="url")
    return url


def _check_folder(folder: str) -> str:
    path = Path(folder)
    if not path.is_absolute() or not path.is_dir():
        raise InvalidInput("a files source must be an existing folder, given by its absolute path", field="url")
    return str(path.resolve())


def _check_sqlite(url: URL, own_database_url: str) -> str:
    if url.query or not url.database or url.database == ":memory:" or url.database.startswith("file:"):
        raise InvalidInput("a SQLite source is sqlite:////absolute/path/to/file.db, without options", field="url")
    path = Path(url.database).expanduser()
    if not path.is_absolute():
        raise InvalidInput("a SQLite source is sqlite:////absolute/path/to/file.db, without options", field="url")
    path = path.resolve()
    if _is_own_sqlite(path, own_database_url):
        raise InvalidInput("crispml's own database cannot be registered as a source", field="url")
    return f"sqlite:///{path}"


def _is_own_sqlite(path: Path, own_database_url: str) -> bool:
    own = make_url(own_database_url)
    if own.get_backend_name() != "sqlite" or not own.database:
        return False
    own_path = Path(own.database).expanduser().resolve()
    try:
        return path == own_path or (path.exists() and own_path.exists() and path.samefile(own_path))
    except OSError:
        return False


def _check_postgresql(location: str, url: URL, own_database_url: str) -> str:
    if not url.database:
        raise InvalidInput("a PostgreSQL source names its database: postgresql+psycopg://user@host/db", field="url")
    own = make_url(own_database_url)
    if own.get_backend_name() == "postgresql" and _same_server(url, own) and url.database == own.database:
        raise InvalidInput("crispml's own database cannot be registered as a source", field="url")
    if url.drivername != "postgresql+psycopg":  # the driver whose prepared statements refuse a second one
        scheme = location.partition("://")[0]
        location = "postgresql+psycopg" + location[len(scheme) :]
    return location


def _same_server(a: URL, b: URL) -> bool:
    def host(url: URL) -> str:
        name = (url.host or "").lower()
        return "loopback" if name in _LOOPBACK else name

    return host(a) == host(b) and (a.port or 5432) == (b.port or 5432)
