"""`crispml sources add|list|remove|tables`: the data sources this server owns.

Run on the server's machine (an admin there), or with `--remote` and an admin's key. A database
password is only ever a reference the server resolves; a source's URL is never printed back.
"""

from __future__ import annotations

from typing import Annotated

import typer

from crispml.cli import render
from crispml.cli.options import FormatOption, JsonOption, RemoteOption, output_format
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend

SOURCE_COLUMNS = ["name", "kind", "created_by", "created_at"]
TABLE_COLUMNS = ["table", "rows", "columns"]

app = typer.Typer(help="Data sources the server owns: add, list, remove, tables.", no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The name ingestion will use (--source NAME).")],
    url: Annotated[
        str,
        typer.Argument(
            help="sqlite:////path/file.db, postgresql+psycopg://user:${ENV_VAR}@host/db (or user:@file:/path@host) "
            "or an absolute folder. A password only as a reference: single-quote the URL in the shell."
        ),
    ],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a data source (admin). The URL is checked, stored, and never shown again."""
    with backend(remote) as c:
        added = c.add_source(name, url)
    if as_json:
        render.print_json(added)
        return
    render.line(f"added {added['kind']} source [bold]{added['name']}[/]")


@app.command("list")
def list_sources(remote: RemoteOption = None, output: FormatOption = OutputFormat.TABLE,
                 as_json: JsonOption = False) -> None:  # fmt: skip
    """Registered sources: names and kinds (never their URLs)."""
    with backend(remote) as c:
        found = c.sources()
    render.emit(found, found, SOURCE_COLUMNS, output_format(output, as_json), keys=["name"], title="sources")


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="A registered source.")], remote: RemoteOption = None,
           as_json: JsonOption = False) -> None:  # fmt: skip
    """Forget a source (admin); datasets read from it keep its name in their lineage."""
    with backend(remote) as c:
        c.remove_source(name)
    if as_json:
        render.print_json({"removed": name})
        return
    render.line(f"removed source [bold]{name}[/]")


@app.command("tables")
def tables(
    name: Annotated[str, typer.Argument(help="A registered database source.")],
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """A database source's tables, with their columns and row counts."""
    with backend(remote) as c:
        found = c.source_tables(name)
    rows = [{"table": t["name"], "rows": t["rows"], "columns": ", ".join(c["name"] for c in t["columns"])}
            for t in found]  # fmt: skip
    render.emit(found, rows, TABLE_COLUMNS, output_format(output, as_json), keys=["table"], title=f"tables of {name}")
