"""The Typer application: global options and the list of commands, in the order help shows them."""

from __future__ import annotations

from typing import Annotated

import typer

from crispml.cli import (
    audit,
    challengers,
    console,
    data,
    db,
    jobs,
    keys,
    models,
    monitoring,
    operations,
    pipelines,
    privacy,
    promotion,
    retraining,
    scoring,
    sources,
    users,
    webhooks,
    worker,
)
from crispml.cli.failures import CrispmlGroup

app = typer.Typer(
    name="crispml",
    cls=CrispmlGroup,
    help="CRISP-DM as a governed ML service: ingest, prepare, curate, train, report, persist, score, label, verify.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        from crispml import __version__

        typer.echo(f"crispml {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """CRISP-DM as a governed ML service: ingest, prepare, curate, train, report, persist, score, label, verify."""


for command in (
    data.synth,
    data.ingest,
    data.prepare,
    data.curate,
    models.train,
    models.report,
    models.persist,
    scoring.score,
    scoring.label,
    scoring.verify,
    scoring.estimate,
    monitoring.monitor,
    data.lineage,
    data.datasets,
    models.models,
    promotion.promote,
    promotion.provenance,
    operations.perf,
    operations.serve,
    console.console,
    worker.worker,
    operations.demo,
):
    app.command()(command)
app.add_typer(pipelines.app, name="pipeline")
app.add_typer(promotion.app, name="bundle")
app.add_typer(jobs.app, name="jobs")
app.add_typer(audit.app, name="audit")
app.add_typer(users.app, name="users")
app.add_typer(sources.app, name="sources")
app.add_typer(privacy.app, name="privacy")
app.add_typer(keys.app, name="keys")
app.add_typer(db.app, name="db")
app.add_typer(retraining.app, name="retrain")
app.add_typer(challengers.app, name="challenger")
app.add_typer(webhooks.app, name="webhooks")


def main() -> None:
    """The `crispml` console script."""
    app()
