"""`crispml audit list|verify`: the hash-chained audit log of the local store (or a server's, to list)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from crispml.cli import render
from crispml.cli.options import FormatOption, JsonOption, RemoteOption, output_format
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend

AUDIT_COLUMNS = ["seq", "at", "environment", "principal", "action", "resource", "request_id"]

app = typer.Typer(help="The audit log: list events, verify the hash chain.", no_args_is_help=True)


@app.command("list")
def list_events(
    since: Annotated[datetime | None, typer.Option(help="Events at or after this time (UTC unless given).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Events before this time (UTC unless given).")] = None,
    principal: Annotated[str | None, typer.Option(help="Only events by this principal.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (alias.set); 'alias.*' for a prefix.")] = None,
    resource: Annotated[
        str | None, typer.Option(help="Only this resource (alias:fraud@champion); 'model:fraud/*' for a prefix.")
    ] = None,
    limit: Annotated[int, typer.Option(help="How many events, newest first.", min=1, max=1000)] = 100,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Audit events, newest first: who did what to which resource, when, in which request."""
    filters = {"since": since, "until": until, "principal": principal, "action": action, "resource": resource}
    with backend(remote) as c:
        page = c.audit({k: v for k, v in filters.items() if v is not None}, limit)
    render.emit(page, page["items"], AUDIT_COLUMNS, output_format(output, as_json), keys=["seq"], title="audit")


@app.command("verify")
def verify(remote: RemoteOption = None, as_json: JsonOption = False) -> None:
    """Walk the hash chain (where the database is: here, or the --remote server); exit 5 naming the first
    event edited, deleted or reordered."""
    with backend(remote) as c:
        checked = c.verify_audit()
    if as_json:
        render.print_json({"checked": checked})
        return
    render.line(f"[green]audit log intact[/]: {checked} events checked")
