"""`crispml webhooks add|list|remove|deliveries`: targets an admin registered, told of events with signed JSON."""

from __future__ import annotations

from typing import Annotated

import typer

from crispml.cli import render
from crispml.cli.options import FormatOption, JsonOption, RemoteOption, output_format
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend

TARGET_COLUMNS = ["id", "url", "events", "secret_env", "created_at"]
DELIVERY_COLUMNS = ["id", "event", "url", "status", "attempts", "last_error", "created_at"]

app = typer.Typer(help="Webhook targets: add, list, remove, and their deliveries.", no_args_is_help=True)


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="An http:// or https:// URL to POST the events to.")],
    events: Annotated[str, typer.Option("--events", help="Comma-separated: retrain.triggered,retrain.finished.")],
    secret_from_env: Annotated[
        str,
        typer.Option(
            "--secret-from-env", help="The server's environment variable holding the signing secret (never stored)."
        ),
    ],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a webhook target (admin). Payloads are JSON signed with HMAC-SHA256 (X-Crispml-Signature)."""
    wanted = [e.strip() for e in events.split(",") if e.strip()]
    with backend(remote) as c:
        added = c.add_webhook(url, events=wanted, secret_env=secret_from_env)
    if as_json:
        render.print_json(added)
        return
    render.line(f"added webhook [bold]{added['id']}[/] for {', '.join(added['events'])} to {added['url']}")


@app.command("list")
def list_targets(remote: RemoteOption = None, output: FormatOption = OutputFormat.TABLE,
                 as_json: JsonOption = False) -> None:  # fmt: skip
    """Registered webhook targets (admin)."""
    with backend(remote) as c:
        found = c.webhooks()
    rows = [{**w, "events": ", ".join(w["events"])} for w in found]
    render.emit(found, rows, TARGET_COLUMNS, output_format(output, as_json), keys=["id"], title="webhooks")


@app.command("remove")
def remove(target_id: Annotated[str, typer.Argument(help="A target's id (wh-...).")], remote: RemoteOption = None,
           as_json: JsonOption = False) -> None:  # fmt: skip
    """Forget a webhook target (admin); its pending deliveries are never sent."""
    with backend(remote) as c:
        c.remove_webhook(target_id)
    render.print_json({"removed": target_id}) if as_json else render.line(f"removed webhook [bold]{target_id}[/]")


@app.command("deliveries")
def deliveries(
    status: Annotated[str | None, typer.Option("--status", help="pending, delivered or failed.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Webhook deliveries, newest first: status, attempts and the last error (admin)."""
    with backend(remote) as c:
        found = c.webhook_deliveries(status, limit)
    rows = [{**d, "last_error": d["last_error"] or ""} for d in found]
    render.emit(found, rows, DELIVERY_COLUMNS, output_format(output, as_json), keys=["id"], title="deliveries")
