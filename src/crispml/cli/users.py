"""`crispml users create|list|revoke|rotate`: API users of the local store (no --remote).

These commands act on the store directly (CRISPML_HOME, CRISPML_DATABASE_URL), as its operating-system
user: whoever can run them on the server's machine can already read its database.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from crispml.cli import render
from crispml.cli.options import FormatOption, JsonOption, output_format
from crispml.cli.render import OutputFormat
from crispml.cli.session import local

RoleName = Literal["admin", "steward", "scientist", "scorer", "auditor", "viewer"]
"""The roles of `crispml.identity.Role` (a test holds the two equal)."""
USER_COLUMNS = ["name", "role", "projects", "status", "created_by", "created_at", "rotated_at"]
_LOCAL = " Acts on the local store directly (there is no --remote for users)."

app = typer.Typer(
    help="API users and their keys: create, list, revoke, rotate." + _LOCAL,
    no_args_is_help=True,
)


def _user_json(user: Any) -> dict[str, Any]:
    """A user as `users list --json` shows it (the REST answer's shape): never its key, salt or digest."""
    from crispml.contract.answers import UserAnswer

    return UserAnswer.from_domain(user).model_dump(mode="json")


def _show_key(name: str, role: str, key: str, as_json: bool) -> None:
    if as_json:
        render.print_json({"name": name, "role": role, "key": key})
        return
    render.line(f"user [bold]{name}[/] ({role}); its API key, shown this once (send it as Authorization: Bearer):")
    typer.echo(key)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="The user's name (recorded as who did what).")],
    role: Annotated[RoleName, typer.Option("--role", help="What the user may do.")],
    project: Annotated[
        list[str] | None, typer.Option("--project", help="A project the key may see (repeat; default: all).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user and print its API key once (stored only as a salted hash)."""
    with local() as backend:
        issued = backend.c.access.create(name, role, project)
    _show_key(issued.user.name, issued.user.role, issued.key, as_json)


@app.command("list")
def list_users(output: FormatOption = OutputFormat.TABLE, as_json: JsonOption = False) -> None:
    """Users with their roles, projects and status (never their keys)."""
    with local() as backend:
        found = [_user_json(u) for u in backend.c.access.list_users()]
    rows = [{**u, "projects": ",".join(u["projects"] or ["*"])} for u in found]
    render.emit(found, rows, USER_COLUMNS, output_format(output, as_json), keys=["name"], title="users")


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The user whose key stops working.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a user's key: servers refuse it within 2 seconds."""
    with local() as backend:
        user = backend.c.access.revoke(name)
    if as_json:
        render.print_json(_user_json(user))
        return
    render.line(f"user [bold]{user.name}[/] revoked")


@app.command("rotate")
def rotate(
    name: Annotated[str, typer.Argument(help="The user who gets a new key.")],
    as_json: JsonOption = False,
) -> None:
    """Give a user a new key, printed once; the old key is refused within 2 seconds."""
    with local() as backend:
        issued = backend.c.access.rotate(name)
    _show_key(issued.user.name, issued.user.role, issued.key, as_json)
