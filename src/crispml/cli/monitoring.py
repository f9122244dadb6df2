"""Monitoring commands: drift of a model version's inputs and scores against its training profile."""

from __future__ import annotations

from typing import Annotated

import typer

from crispml.cli import render
from crispml.cli.options import FormatOption, FramesOption, JsonOption, RemoteOption, output_format
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend

MONITOR_COLUMNS = ["frame", "period", "feature", "rows", "psi", "js_distance", "missing_rate", "level"]


def monitor(
    model: Annotated[str, typer.Argument(help="Model: name@alias or name/version.")],
    frames: FramesOption = None,
    since: Annotated[
        str | None, typer.Option(help="Records scored online since: 24h, 30m, 7d or an ISO 8601 time.")
    ] = None,
    dataset: Annotated[
        str | None, typer.Option(help="A dataset the model scored (default: its training dataset).")
    ] = None,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Drift per feature and frame (or hour): PSI, Jensen-Shannon distance, missing values, score shift."""
    with backend(remote) as c:
        result = c.monitor(model, frames=frames, since=since, dataset=dataset)
    title = f"drift of {result['model_version']} ({result['source']}) against training frames"
    if render.emit(result, result["rows"], MONITOR_COLUMNS, output_format(output, as_json),
                   keys=["frame", "period", "feature"], title=title):  # fmt: skip
        return
    render.line(f"alarm: {', '.join(result['alarms']) or 'none'}; warning: {', '.join(result['warnings']) or 'none'}")
