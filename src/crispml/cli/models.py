"""Model commands: train, report, persist (methods 4-6) and the list of model versions."""

from __future__ import annotations

from typing import Annotated, Any, get_args

import typer

from crispml.cli import render
from crispml.cli.options import (
    AlgorithmOption,
    FormatOption,
    FramesOption,
    HtmlOption,
    JsonOption,
    PngOption,
    RemoteOption,
    ThresholdOption,
    output_format,
)
from crispml.cli.pictures import file_stem, write_page, write_picture
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend, parse_params, progress
from crispml.contract.requests import ReportPlot

KPI_COLUMNS = ["frame", "rows", "positives", "roc_auc", "pr_auc", "precision", "recall", "f1"]
MODEL_COLUMNS = ["name", "version", "algorithm", "class_weight", "frames", "roc_auc", "aliases", "id"]


def holdout_auc(model: dict[str, Any]) -> float | None:
    overall = (model.get("metrics") or {}).get("overall") or model.get("overall") or {}
    auc = overall.get("roc_auc")
    return None if auc is None else float(auc)


def model_line(model: dict[str, Any]) -> None:
    aliases = f" aliases {', '.join(model['aliases'])}" if model.get("aliases") else ""
    auc = holdout_auc(model)
    render.line(
        f"[bold]{model['name']}/{model['version']}[/] id [cyan]{model['id']}[/] {model['algorithm']} "
        f"weight {model['class_weight']:g} frames {list(model['frames'])} "
        f"holdout ROC AUC {auc if auc is None else round(auc, 4)}{aliases}"
    )


def train(
    dataset: Annotated[str, typer.Argument(help="Dataset to train on: id, name or name/version.")],
    algorithm: AlgorithmOption = "rf",
    frames: Annotated[str, typer.Option(help="Training frames, e.g. 1-6.")] = "1-6",
    weight: Annotated[float, typer.Option(help="Class weight of the positive class.")] = 1.0,
    name: Annotated[str, typer.Option(help="Model name.")] = "fraud",
    param: Annotated[list[str] | None, typer.Option("--param", help="Hyper-parameter key=value (repeatable).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    threshold: Annotated[float, typer.Option(help="Decision threshold on the score.")] = 0.5,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """4. ModelTraining: a new model version from chosen frames, algorithm and hyper-parameters."""
    params = parse_params(param)
    with backend(remote) as c, progress(not as_json) as step:
        model = c.train(
            dataset,
            algorithm=algorithm,
            frames=frames,
            weight=weight,
            name=name,
            params=params,
            seed=seed,
            threshold=threshold,
            progress=step("train"),
        )
    if as_json:
        render.print_json(model)
        return
    model_line(model)


def report(
    model: Annotated[str, typer.Argument(help="Model: name@alias, name/version or name.")],
    frames: FramesOption = None,
    threshold: ThresholdOption = None,
    html: HtmlOption = None,
    png: PngOption = None,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """5. ModelReport: KPIs, curves and feature importance on frames not used for training."""
    with backend(remote) as c:
        result = c.report(model, frames=frames, threshold=threshold)
        if html is not None:
            write_page(html, c.report_page(model, frames=frames, threshold=threshold))
        if png is not None:
            stem = file_stem(result["model"])
            for plot in get_args(ReportPlot):
                picture = c.report_plot(model, plot, frames=frames, threshold=threshold, image_format="png")
                write_picture(png / f"{stem}-{plot}.png", picture)
    rows = [{"frame": f, **k} for f, k in result["per_frame"].items()]
    rows.append({"frame": "all", **(result["overall"] or {})})
    title = f"{result['model']} ({result['algorithm']})"
    if render.emit(result, rows, KPI_COLUMNS, output_format(output, as_json), keys=["frame"], title=title):
        return
    top = list(result["importance"].items())[:10]
    render.line("top features: " + ", ".join(f"{k} {v:.3f}" for k, v in top))


def persist(
    model: Annotated[str, typer.Argument(help="Model: name/version, name@alias or name.")],
    alias: Annotated[str, typer.Option(help="Alias to point at this version.")] = "champion",
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """6. ModelPersist: register a version and point an alias at it."""
    with backend(remote) as c:
        result = c.persist(model, alias=alias)
    if as_json:
        render.print_json(result)
        return
    model_line(result)


def models(
    name: Annotated[str | None, typer.Argument(help="Only versions of this model.")] = None,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """List model versions and their aliases."""
    with backend(remote) as c:
        found = c.models(name)
    rows = [{**m, "roc_auc": holdout_auc(m), "class_weight": f"{m['class_weight']:g}"} for m in found]
    render.emit(
        found, rows, MODEL_COLUMNS, output_format(output, as_json), keys=["name", "version"], title="model versions"
    )
