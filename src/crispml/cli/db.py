"""`crispml db upgrade`: the database schema brought to the newest migration, once, before servers start."""

from __future__ import annotations

import typer

from crispml.cli import render
from crispml.cli.options import JsonOption

app = typer.Typer(help="The database schema (CRISPML_DATABASE_URL, else SQLite under CRISPML_HOME).",
                  no_args_is_help=True)  # fmt: skip


@app.command("upgrade")
def upgrade(as_json: JsonOption = False) -> None:
    """Apply the migrations the database lacks, then exit: run it once per release (a Kubernetes Job) with
    CRISPML_MIGRATE_ON_START=0 on the servers, so they never race each other to migrate."""
    from crispml.container import migrate
    from crispml.settings import load_settings

    done = migrate(load_settings())
    if as_json:
        render.print_json({"before": done.before, "after": done.after, "changed": done.before != done.after})
        return
    if done.before == done.after:
        render.line(f"the database schema is already at revision {done.after}")
    else:
        render.line(f"the database schema went from revision {done.before or 'none (empty)'} to {done.after}")
