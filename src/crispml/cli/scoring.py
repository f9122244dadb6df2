"""Scoring commands: score, label, verify (methods 7-9), and estimate (performance before labels)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from crispml.cli import render
from crispml.cli.options import (
    FormatOption,
    FramesOption,
    HtmlOption,
    JsonOption,
    PngOption,
    RemoteOption,
    output_format,
)
from crispml.cli.pictures import file_stem, write_page, write_picture
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend, progress
from crispml.contract.requests import VerificationPlot

VERIFY_COLUMNS = [
    "model",
    "frame",
    "scored",
    "labelled",
    "roc_auc",
    "report_roc_auc",
    "pr_auc",
    "precision",
    "recall",
    "f1",
    "positives",
    "unlabelled",
    "est_roc_auc",
    "roc_auc_in",
    "est_precision",
    "precision_in",
    "est_recall",
    "recall_in",
]
ESTIMATE_COLUMNS = [
    "model",
    "frame",
    "unlabelled",
    "calibration",
    "roc_auc",
    "roc_auc_interval",
    "precision",
    "precision_interval",
    "recall",
    "recall_interval",
    "f1",
    "f1_interval",
]
ESTIMATED = ("roc_auc", "precision", "recall", "f1")


def score(
    model: Annotated[str, typer.Argument(help="Model: name@alias or name/version.")],
    dataset: Annotated[str | None, typer.Option(help="Score this dataset's frames.")] = None,
    frames: FramesOption = None,
    file: Annotated[str | None, typer.Option(help="Score the records of a CSV, zip or Parquet file.")] = None,
    idempotency_key: Annotated[str | None, typer.Option("--idempotency-key", help="Retry-safe batch key.")] = None,
    output: Annotated[Path | None, typer.Option(help="Write every score to this CSV file.")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """7. NewDataScore: score and persist every score with model version and batch."""
    with backend(remote) as c, progress(not as_json) as step:
        result = c.score(
            model,
            dataset=dataset,
            frames=frames,
            file=file,
            idempotency_key=idempotency_key,
            progress=step("score"),
        )
    if output is not None:
        import pandas as pd

        pd.DataFrame(result["scores"]).to_csv(output, index=False)
    if as_json:
        render.print_json(result)
        return
    note = " (replayed: nothing new written)" if result["replayed"] else ""
    render.line(
        f"batch [cyan]{result['batch_id']}[/] model {result['model']}: {result['rows']:,} scores persisted, "
        f"{result['flagged']:,} flagged{note}"
    )


def label(
    file: Annotated[str | None, typer.Argument(help="File of record ids and labels.")] = None,
    dataset: Annotated[str | None, typer.Option(help="Import the truth a dataset already holds.")] = None,
    frames: FramesOption = None,
    id_column: Annotated[str, typer.Option("--id-column", help="Record id column in FILE.")] = "record_id",
    label_column: Annotated[str, typer.Option("--label-column", help="Label column in FILE.")] = "label",
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """8. NewDataLabel: import ground truth by record id."""
    with backend(remote) as c:
        result = c.label(file=file, dataset=dataset, frames=frames, id_column=id_column, label_column=label_column)
    if as_json:
        render.print_json(result)
        return
    render.line(
        f"import [cyan]{result['import_id']}[/]: {result['imported']:,} labels ({result['positives']:,} positive)"
    )
    if result["unknown"]:
        render.line(
            f"[yellow]{result['unknown']:,} labels name records never scored[/] (kept; e.g. "
            f"{', '.join(result['unknown_sample'][:3])})"
        )


def verify(
    model: Annotated[str, typer.Argument(help="Model: name@alias, name/version, or name for all versions.")],
    frames: FramesOption = None,
    html: HtmlOption = None,
    png: PngOption = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Two aliases or versions to compare on the same labelled records with "
            "DeLong's paired test, e.g. champion,challenger or 3,5.",
        ),
    ] = None,
    level: Annotated[float, typer.Option("--level", help="The paired test's significance level.")] = 0.05,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """9. NewDataReport: persisted scores against late ground truth, per model version and frame."""
    with backend(remote) as c:
        result = c.verify(model, frames=frames, compare=compare, level=level)
        if html is not None:
            write_page(html, c.verify_page(model, frames=frames))
        if png is not None:
            stem = file_stem(result["model"])
            for plot in get_args(VerificationPlot):
                picture = c.verify_plot(model, plot, frames=frames, image_format="png")
                write_picture(png / f"{stem}-verification-{plot}.png", picture)
    title = f"verification of {result['model']}"
    rows = [{**row, **_beside(row.get("estimate"))} for row in result["rows"]]
    done = render.emit(result, rows, VERIFY_COLUMNS, output_format(output, as_json), keys=["model", "frame"],
                       title=title)  # fmt: skip
    if not done:
        for warning in result.get("warnings", []):
            render.line(f"[yellow]{warning}[/]")
        if result.get("comparison") is not None:
            _comparison_line(result["comparison"])


def estimate(
    model: Annotated[str, typer.Argument(help="Model: name@alias, name/version, or name for all versions.")],
    frames: FramesOption = None,
    since: Annotated[str | None, typer.Option(help="Scores of the last '24h' (s, m, h, d, w) or an ISO time.")] = None,
    level: Annotated[float, typer.Option(help="Coverage of each estimate's interval.", min=0.5, max=0.999)] = 0.99,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Performance before labels: CBPE estimates (with intervals) of the scores without a label yet."""
    with backend(remote) as c:
        result = c.estimate(model, frames=frames, since=since, level=level)
    rows = [{**row, **{f"{k}_interval": _interval((row.get("interval") or {}).get(k)) for k in ESTIMATED}}
            for row in result["rows"]]  # fmt: skip
    title = f"estimate of {result['model']} before labels"
    if not render.emit(result, rows, ESTIMATE_COLUMNS, output_format(output, as_json), keys=["model", "frame"],
                       title=title):  # fmt: skip
        if not rows:
            render.line("no unlabelled scores in the frames or period asked for")
        for warning in result["warnings"]:
            render.line(f"[yellow]{warning}[/]")


def _interval(bounds: list[float] | None) -> str | None:
    return None if bounds is None else f"{bounds[0]:.3f}-{bounds[1]:.3f}"


def _beside(found: dict[str, Any] | None) -> dict[str, Any]:
    """A verification row's estimate as flat columns: est_KPI and KPI_in (realized within the interval)."""
    if not found:
        return {}
    flat: dict[str, Any] = {}
    for kpi, values in found["kpis"].items():
        flat[f"est_{kpi}"] = values["estimated"]
        flat[f"{kpi}_in"] = (
            None if values["within_interval"] is None else ("yes" if values["within_interval"] else "NO")
        )
    return flat


def _comparison_line(found: dict[str, Any]) -> None:
    """The paired comparison under the verification table."""
    head = f"{found['second']} against {found['first']} on {found['records']:,} labelled records"
    if found["difference"] is None:
        render.line(f"{head} ({found['positives']:,} positive): a comparison needs both classes")
        return
    low, high = found["interval"]
    verdict = "[bold]significant[/]" if found["significant"] else "not significant"
    render.line(
        f"{head}: ROC AUC {found['second_roc_auc']:.4f} vs {found['first_roc_auc']:.4f}, difference "
        f"{found['difference']:+.4f} ({1 - found['level']:.0%} interval {low:+.4f}..{high:+.4f}), DeLong "
        f"p={found['p_value']:.3g}: {verdict} at {found['level']:g}"
    )
