"""`crispml promote REF --to ENV`, `crispml bundle export|import` (the two halves, for air-gapped
environments) and `crispml provenance REF`: model versions moved between environments as signed bundles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crispml.cli import render
from crispml.cli.options import JsonOption, RemoteOption
from crispml.cli.session import backend
from crispml.errors import Conflict, InvalidInput

app = typer.Typer(help="Signed bundles of model versions: export here, import elsewhere.", no_args_is_help=True)
ModelArg = Annotated[str, typer.Argument(help="A model version: fraud/3 (or fraud@champion locally).")]
AliasOption = Annotated[str, typer.Option("--alias", help="The target's alias to move (gates permitting).")]


def _print_import(answer: dict[str, Any]) -> None:
    what = "imported as" if answer.get("imported") else "already there as"
    render.line(f"{answer['source_environment']} {answer['source_model']} {what} [cyan]{answer['model']}[/] "
                f"in {answer['environment']} (bundle {answer['bundle_sha256'][:12]})")  # fmt: skip
    if answer.get("moved"):
        previous = f", previous {answer['previous']} is now fallback" if answer.get("previous") else ""
        render.line(f"alias [bold]{answer['alias']}[/] -> {answer['model']}{previous}")
        for gate in answer.get("gates", []):
            render.line(f"  gate held: {gate}")


def promote(
    model: ModelArg,
    to: Annotated[str, typer.Option("--to", help="The target environment, as CRISPML_PROMOTION_TARGETS names it.")],
    alias: AliasOption = "champion",
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Promote a model version to another environment: one signed bundle, checked there, whose gates decide
    whether the alias moves (the old champion becomes fallback). With --remote, the server promotes."""
    with backend(remote) as c:
        answer = c.promote(model, to, alias)
    render.print_json(answer) if as_json else _print_import(answer)


@app.command("export")
def export(
    model: ModelArg,
    out: Annotated[Path, typer.Option("--out", help="The bundle file to write (never overwritten).")],
    remote: RemoteOption = None,
) -> None:
    """Write a model version, its artifacts, report, pipeline file and lineage as one signed bundle."""
    if out.exists():
        raise Conflict(f"{out} already exists; a bundle is never overwritten", field="out")
    with backend(remote) as c:
        data = c.export_model(model)
    try:
        with out.open("xb") as handle:
            handle.write(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write the bundle {out}: {exc.strerror}", field="out") from None
    render.line(f"{model} -> {out} ({len(data)} bytes)")


@app.command("import")
def import_(
    bundle: Annotated[Path, typer.Argument(help="A bundle file written by `crispml bundle export`.")],
    alias: Annotated[str | None, typer.Option("--alias", help="Move this alias to it (gates permitting).")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Check a bundle's signature and every hash, then import its model version (and with --alias, promote it)."""
    try:
        data = bundle.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the bundle {bundle}: {exc.strerror}", field="bundle") from None
    with backend(remote) as c:
        answer = c.import_model(data, alias)
    render.print_json(answer) if as_json else _print_import(answer)


def provenance(model: ModelArg, remote: RemoteOption = None, as_json: JsonOption = False) -> None:
    """Where a model version came from: made here, or imported (environment, version, bundle sha256, history)."""
    with backend(remote) as c:
        answer = c.provenance(model)
    if as_json:
        render.print_json(answer)
    elif not answer["imported"]:
        render.line(f"{answer['model']} was made here ({answer['environment']})")
    else:
        render.line(
            f"{answer['model']} was imported from {answer['source_environment']} {answer['source_ref']} "
            f"(bundle {answer['bundle_sha256'][:12]}, by {answer['imported_by']} at {answer['imported_at']})"
        )
        render.line("history: " + " -> ".join(f"{h['environment']} {h['model']}" for h in answer["history"]))
        render.line("lineage: " + " <- ".join(answer["lineage"]))
