"""`crispml pipeline run|resume|check|schema`: pipelines as code, locally or on a server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from crispml.cli import render
from crispml.cli.options import JsonOption, RemoteOption
from crispml.cli.session import backend, progress
from crispml.errors import InvalidInput

app = typer.Typer(help="Pipelines as code: run a declared cycle as one durable job.", no_args_is_help=True)
PipelineFile = Annotated[Path, typer.Argument(help="A pipeline file, YAML or JSON (see `crispml pipeline schema`).")]


def read_pipeline(path: Path) -> str:
    """A pipeline file's text; InvalidInput naming the file if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read the pipeline file {path}: {exc.strerror}", field="pipeline") from None


def print_steps(result: dict[str, Any]) -> None:
    """One line per step the pipeline ran, with what it made."""
    render.line(f"pipeline job [cyan]{result['job']}[/] succeeded")
    for step, output in result["steps"].items():
        if step == "verify":
            summary = f"{len(output['rows'])} rows (frames and all)"
        elif step == "report":
            overall = output.get("overall") or {}
            summary = ", ".join(f"{k} {overall[k]:.4f}" for k in ("roc_auc", "pr_auc", "recall") if k in overall)
        elif step == "gates":
            summary = "; ".join(output["passed"])
        else:
            summary = " ".join(f"{k} {v}" for k, v in output.items())
        render.line(f"  [bold]{step:<8}[/] {summary}")


@app.command("run")
def run(pipeline: PipelineFile, remote: RemoteOption = None, as_json: JsonOption = False) -> None:
    """Validate a pipeline file, then run it as one job, step by step (resumable with `pipeline resume`)."""
    text = read_pipeline(pipeline)
    with backend(remote) as c, progress(not as_json) as step:
        result = c.run_pipeline(text, step("pipeline"))
    render.print_json(result) if as_json else print_steps(result)


@app.command("resume")
def resume(
    job_id: Annotated[str, typer.Argument(help="The interrupted pipeline job (job-...).")],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Resume an interrupted pipeline job: a new job skips the steps it finished and runs the rest."""
    with backend(remote) as c, progress(not as_json) as step:
        result = c.resume_pipeline(job_id, step("pipeline"))
    render.print_json(result) if as_json else print_steps(result)


@app.command("check")
def check(pipeline: PipelineFile) -> None:
    """Validate a pipeline file: the schema, its algorithms and hyper-parameters (nothing runs)."""
    from crispml.services.pipelines import check_pipeline, parse_pipeline

    found = parse_pipeline(read_pipeline(pipeline))
    check_pipeline(found)
    render.line(f"{pipeline}: pipeline {found.name!r} is valid; steps: {', '.join(found.steps())}")


@app.command("schema")
def schema() -> None:
    """Print the JSON schema of a pipeline file."""
    from crispml.contract.pipeline import schema_text

    typer.echo(schema_text(), nl=False)
