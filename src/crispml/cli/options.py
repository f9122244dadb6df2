"""Options shared by many commands, and the closed sets the command line offers as choices."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from crispml.cli.render import OutputFormat


class AlgorithmChoice(StrEnum):
    """The algorithms of `crispml.steps.algorithms.ALGORITHMS` (a test holds the two equal)."""

    RF = "rf"
    HGB = "hgb"
    LGBM = "lgbm"
    LOGREG = "logreg"


class MissingChoice(StrEnum):
    """What `prepare` does with missing values (`crispml.steps.prepare.MissingPolicy`)."""

    MEDIAN = "median"
    ZERO = "zero"
    DROP = "drop"


class JobStatusChoice(StrEnum):
    """The states of `crispml.domain.JobStatus`."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


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
AlgorithmOption = Annotated[AlgorithmChoice, typer.Option(help="Algorithm.", case_sensitive=False)]


def output_format(chosen: OutputFormat, as_json: bool) -> OutputFormat:
    """`--json` is a short way of saying `--format json`."""
    return OutputFormat.JSON if as_json else chosen
