"""Options shared by many commands, and the closed sets the command line offers as choices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from crispml.cli.render import OutputFormat

# Literal types: typer offers them as choices (`<rf|hgb|lgbm|logreg>`) and refuses anything else.
AlgorithmName = Literal["rf", "hgb", "lgbm", "logreg"]
"""The algorithms of `crispml.steps.algorithms.ALGORITHMS` (a test holds the two equal)."""
MissingName = Literal["median", "zero", "drop"]
StageName = Literal["raw", "prepared", "curated"]
"""What `prepare` does with missing values (`crispml.steps.prepare.MissingPolicy`)."""
JobStatusName = Literal["queued", "running", "succeeded", "failed", "cancelled", "interrupted"]
"""The states of `crispml.domain.JobStatus`."""


JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
FormatOption = Annotated[
    OutputFormat,
    typer.Option("--format", help="table (fits the terminal), csv (every column) or json.", case_sensitive=False),
]
FramesOption = Annotated[str | None, typer.Option("--frames", help="Frames such as '1-6' or '7,9,11'.")]
RemoteOption = Annotated[
    str | None,
    typer.Option(
        "--remote", envvar="CRISPML_REMOTE", help="URL of a crispml server to run this on, instead of locally."
    ),
]
AlgorithmOption = Annotated[AlgorithmName, typer.Option(help="Algorithm.")]
ThresholdOption = Annotated[
    float | None,
    typer.Option(help="Score at or above which a record counts as flagged (confusion matrix, precision, recall, "
                 "F1); default: the model's threshold."),
]  # fmt: skip
HtmlOption = Annotated[
    Path | None,
    typer.Option("--html", help="Also write a self-contained HTML page (KPIs and every picture) to this file.",
                 dir_okay=False),
]  # fmt: skip
PngOption = Annotated[
    Path | None,
    typer.Option("--png", help="Also write one PNG per picture into this folder (for slides).", file_okay=False),
]


def output_format(chosen: OutputFormat, as_json: bool) -> OutputFormat:
    """`--json` is a short way of saying `--format json`."""
    return OutputFormat.JSON if as_json else chosen
