"""`crispml jobs list|show|cancel`: the durable jobs of the local store or of a server."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crispml.cli import render
from crispml.cli.options import FormatOption, JobStatusName, JsonOption, RemoteOption, output_format
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend

JOB_COLUMNS = ["id", "kind", "status", "phase", "progress", "created_by", "created_at"]

app = typer.Typer(
    help="Durable jobs (ingest, train, dataset scoring, pipelines): list, show, cancel.", no_args_is_help=True
)


def _job_line(job: dict[str, Any]) -> None:
    error = (job.get("error") or {}).get("detail")
    render.line(
        f"[cyan]{job['id']}[/] {job['kind']} [bold]{job['status']}[/] {job.get('phase') or ''} "
        f"{float(job.get('progress') or 0.0):.0%}" + (f" error: {error}" if error else "")
    )


@app.command("list")
def list_jobs(
    status: Annotated[JobStatusName | None, typer.Option(help="Only jobs in this state.")] = None,
    limit: Annotated[int, typer.Option(help="How many recent jobs.", min=1, max=1000)] = 100,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Recent jobs, newest first."""
    with backend(remote) as c:
        found = c.jobs(status, limit)
    rows = [{**j, "progress": round(float(j.get("progress") or 0.0), 2)} for j in found]
    render.emit(found, rows, JOB_COLUMNS, output_format(output, as_json), keys=["id"], title="jobs")


@app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="Job id (job-...).")],
    wait: Annotated[bool, typer.Option("--wait", help="Block until the job has ended.")] = False,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """A job: status, phase, progress, result or error."""
    with backend(remote) as c:
        job = c.job(job_id, wait)
    if as_json:
        render.print_json(job)
        return
    _job_line(job)


@app.command("cancel")
def cancel(
    job_id: Annotated[str, typer.Argument(help="Job id (job-...).")],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cancel a queued job at once, or ask a running one to stop at its next progress report."""
    with backend(remote) as c:
        job = c.cancel_job(job_id)
    if as_json:
        render.print_json(job)
        return
    _job_line(job)
