"""The `crispml` command line: the nine methods and their companions, over the service layer."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pandas as pd
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crispml.backends import Backend, LocalBackend, RemoteBackend
from crispml.client import Client
from crispml.container import Container, connect
from crispml.domain import SourceSpec
from crispml.errors import CrispmlError
from crispml.jsonable import jsonable
from crispml.services.base import Progress as ProgressCallback
from crispml.services.demo import run_demo
from crispml.services.synthesis import write_synthetic
from crispml.steps.algorithms import parse_param_value
from crispml.steps.synthetic import REFERENCE_ROWS

app = typer.Typer(
    name="crispml",
    help="CRISP-DM as a governed ML service: ingest, prepare, curate, train, report, persist, score, label, verify.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
out = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
FramesOption = Annotated[str | None, typer.Option("--frames", help="Frames such as '1-6' or '7,9,11'.")]


def main() -> None:
    app()


# -- plumbing ------------------------------------------------------------------------------------
def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(value), indent=2) + "\n")


RemoteOption = Annotated[
    str | None,
    typer.Option(
        "--remote", envvar="CRISPML_REMOTE", help="URL of a crispml server to run this on, instead of locally."
    ),
]


@contextmanager
def _errors() -> Iterator[None]:
    """Turn crispml's errors into one red line and an exit code."""
    try:
        yield
    except CrispmlError as exc:
        err.print(f"[bold red]error:[/] {exc.message}", highlight=False, markup=True)
        raise typer.Exit(exc.exit_code) from None


@contextmanager
def _session() -> Iterator[Container]:
    """Open the local store."""
    with _errors(), connect() as container:
        yield container


@contextmanager
def _backend(remote: str | None) -> Iterator[Backend]:
    """The local store, or the server at `remote`."""
    with _errors():
        if remote:
            try:
                with Client(remote) as client:
                    yield RemoteBackend(client)
            except httpx.TransportError as exc:
                raise CrispmlError(f"cannot reach {remote}: {exc}") from exc
        else:
            with connect() as container:
                yield LocalBackend(container)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], ProgressCallback]]:
    """Progress bars on stderr, one per step; silent with --json or when stderr is not a terminal."""
    if not enabled:
        yield lambda _title: lambda _phase, _fraction: None
        return
    bars = Progress(
        TextColumn("{task.fields[title]:<10}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )

    def step(title: str) -> ProgressCallback:
        task = bars.add_task("", total=1.0, title=title)

        def update(phase: str, fraction: float) -> None:
            bars.update(task, completed=fraction, description=phase)

        return update

    with bars:
        yield step


def _params(pairs: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            err.print(f"[bold red]error:[/] --param {pair!r} must look like key=value")
            raise typer.Exit(2)
        params[key.strip()] = parse_param_value(value)
    return params


def _dataset_line(dataset: dict[str, Any]) -> None:
    out.print(
        f"[bold]{dataset['name']}/{dataset['version']}[/] ({dataset['stage']}) id [cyan]{dataset['id']}[/] "
        f"rows {dataset['rows']:,} frames {dataset['frames']} sha256 {dataset['sha256'][:12]}"
    )


def _model_line(model: dict[str, Any]) -> None:
    aliases = f" aliases {', '.join(model['aliases'])}" if model.get("aliases") else ""
    overall = (model.get("metrics") or {}).get("overall") or model.get("overall") or {}
    auc = overall.get("roc_auc")
    out.print(
        f"[bold]{model['name']}/{model['version']}[/] id [cyan]{model['id']}[/] {model['algorithm']} "
        f"weight {model['class_weight']:g} frames {list(model['frames'])} "
        f"holdout ROC AUC {auc if auc is None else round(auc, 4)}{aliases}"
    )


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _kpi_table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*(_fmt(row.get(c)) for c in columns))
    return table


# -- data ----------------------------------------------------------------------------------------
@app.command()
def synth(
    out_path: Annotated[Path, typer.Option("--out", help="Target .csv, .zip or .parquet file.")] = Path(
        "creditcard.csv"
    ),
    rows: Annotated[int, typer.Option(help="Rows to generate.")] = REFERENCE_ROWS,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
) -> None:
    """Write the seeded synthetic twin of the credit-card-fraud data set."""
    try:
        started = time.perf_counter()
        write_synthetic(out_path, rows, seed)
    except CrispmlError as exc:
        err.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(exc.exit_code) from None
    out.print(f"wrote {rows:,} rows to {out_path} in {time.perf_counter() - started:.1f}s")


@app.command()
def ingest(
    source: Annotated[str | None, typer.Argument(help="CSV, zipped CSV or Parquet file.")] = None,
    url: Annotated[str | None, typer.Option(help="SQLAlchemy URL of a source database.")] = None,
    table: Annotated[str | None, typer.Option(help="Table to read from --url.")] = None,
    query: Annotated[str | None, typer.Option(help="Read-only query to run on --url.")] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the file's stem).")] = None,
    slices: Annotated[int, typer.Option(help="Number of equal time frames.")] = 12,
    percent_data: Annotated[float, typer.Option("--percent-data", help="Share of rows to keep, 0 < p <= 1.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 42,
    target: Annotated[str, typer.Option(help="Binary target column.")] = "Class",
    key: Annotated[str | None, typer.Option(help="Record key column (derived from content if none).")] = None,
    time_column: Annotated[str | None, typer.Option("--time-column", help="Cut frames by this column.")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """1. DataIngestion: raw data into a new immutable dataset version."""
    spec = SourceSpec(path=source, url=url, table=table, query=query)
    with _backend(remote) as c, _progress(not as_json) as step:
        dataset = c.ingest(
            spec,
            name=name,
            slices=slices,
            percent_data=percent_data,
            seed=seed,
            target=target,
            key=key,
            time_column=time_column,
            progress=step("ingest"),
        )
    if as_json:
        _print_json(dataset)
        return
    _dataset_line(dataset)
    table_out = Table(title="summary of numeric columns")
    for column in ("column", "Min.", "1st Qu.", "Median", "Mean", "3rd Qu.", "Max."):
        table_out.add_column(column, justify="right")
    for s in dataset["report"]["stats"]:
        table_out.add_row(s["column"], *(f"{s[k]:.4g}" for k in ("min", "q1", "median", "mean", "q3", "max")))
    out.print(table_out)


@app.command()
def prepare(
    dataset: Annotated[str, typer.Argument(help="Raw dataset: id, name or name/version.")],
    missing: Annotated[str, typer.Option(help="Missing values: median, zero or drop.")] = "median",
    name: Annotated[str | None, typer.Option(help="Name of the prepared dataset.")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """2. DataPreparation: algorithm-independent cleaning, with a report of what changed."""
    with _backend(remote) as c, _progress(not as_json) as step:
        result = c.prepare(dataset, missing=missing, name=name, progress=step("prepare"))
    if as_json:
        _print_json(result)
        return
    _dataset_line(result)
    for key, value in result["report"].items():
        out.print(f"  {key}: {value}")


@app.command()
def curate(
    dataset: Annotated[str, typer.Argument(help="Prepared dataset: id, name or name/version.")],
    algorithm: Annotated[str, typer.Option(help="rf, hgb, lgbm or logreg.")] = "rf",
    frames: FramesOption = None,
    name: Annotated[str | None, typer.Option(help="Name of the curated dataset.")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """3. DataCuration: algorithm-specific transforms fitted on training frames only."""
    with _backend(remote) as c, _progress(not as_json) as step:
        result = c.curate(dataset, algorithm=algorithm, frames=frames, name=name, progress=step("curate"))
    if as_json:
        _print_json(result)
        return
    _dataset_line(result)
    for key, value in result["report"].items():
        out.print(f"  {key}: {value}")


# -- models --------------------------------------------------------------------------------------
@app.command()
def train(
    dataset: Annotated[str, typer.Argument(help="Dataset to train on: id, name or name/version.")],
    algorithm: Annotated[str, typer.Option(help="rf, hgb, lgbm or logreg.")] = "rf",
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
    params = _params(param)
    with _backend(remote) as c, _progress(not as_json) as step:
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
        _print_json(model)
        return
    _model_line(model)


@app.command()
def report(
    model: Annotated[str, typer.Argument(help="Model: name@alias, name/version or name.")],
    frames: FramesOption = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """5. ModelReport: KPIs, curves and feature importance on frames not used for training."""
    with _backend(remote) as c:
        result = c.report(model, frames=frames)
    if as_json:
        _print_json(result)
        return
    rows = [{"frame": f, **k} for f, k in result["per_frame"].items()]
    rows.append({"frame": "all", **(result["overall"] or {})})
    columns = ["frame", "rows", "positives", "roc_auc", "pr_auc", "precision", "recall", "f1"]
    out.print(_kpi_table(f"{result['model']} ({result['algorithm']})", rows, columns))
    top = list(result["importance"].items())[:10]
    out.print("top features: " + ", ".join(f"{k} {v:.3f}" for k, v in top))


@app.command()
def persist(
    model: Annotated[str, typer.Argument(help="Model: name/version, name@alias or name.")],
    alias: Annotated[str, typer.Option(help="Alias to point at this version.")] = "champion",
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """6. ModelPersist: register a version and point an alias at it."""
    with _backend(remote) as c:
        result = c.persist(model, alias=alias)
    if as_json:
        _print_json(result)
        return
    _model_line(result)


# -- scoring -------------------------------------------------------------------------------------
@app.command()
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
    with _backend(remote) as c, _progress(not as_json) as step:
        result = c.score(
            model,
            dataset=dataset,
            frames=frames,
            file=file,
            idempotency_key=idempotency_key,
            progress=step("score"),
        )
    if output is not None:
        pd.DataFrame(result["scores"]).to_csv(output, index=False)
    if as_json:
        _print_json(result)
        return
    batch = result["batch"]
    positives = sum(int(s["decision"]) for s in result["scores"])
    note = " (replayed: nothing new written)" if result["replayed"] else ""
    out.print(
        f"batch [cyan]{batch['id']}[/] model {batch['model_ref']}: {batch['rows']:,} scores persisted, "
        f"{positives:,} flagged{note}"
    )


@app.command()
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
    with _backend(remote) as c:
        result = c.label(file=file, dataset=dataset, frames=frames, id_column=id_column, label_column=label_column)
    if as_json:
        _print_json(result)
        return
    out.print(
        f"import [cyan]{result['import_id']}[/]: {result['imported']:,} labels ({result['positives']:,} positive)"
    )
    if result["unknown"]:
        out.print(
            f"[yellow]{result['unknown']:,} labels name records never scored[/] (kept; e.g. "
            f"{', '.join(result['unknown_sample'][:3])})"
        )


@app.command()
def verify(
    model: Annotated[str, typer.Argument(help="Model: name@alias, name/version, or name for all versions.")],
    frames: FramesOption = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """9. NewDataReport: persisted scores against late ground truth, per model version and frame."""
    with _backend(remote) as c:
        result = c.verify(model, frames=frames)
    if as_json:
        _print_json(result)
        return
    columns = [
        "model",
        "frame",
        "scored",
        "labelled",
        "unlabelled",
        "positives",
        "roc_auc",
        "report_roc_auc",
        "pr_auc",
        "precision",
        "recall",
        "f1",
    ]
    out.print(_kpi_table(f"verification of {result['model']}", result["rows"], columns))


# -- governance and operations -------------------------------------------------------------------
@app.command()
def lineage(
    ref: Annotated[str, typer.Argument(help="Model or dataset reference.")],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the chain from a model or dataset back to its raw source."""
    with _backend(remote) as c:
        chain = c.lineage(ref)
    if as_json:
        _print_json(chain)
        return
    for depth, node in enumerate(chain):
        detail = ", ".join(
            f"{k}={v}"
            for k, v in node["detail"].items()
            if k in {"algorithm", "sha256", "rows", "created_by", "created_at"}
        )
        out.print(f"{'  ' * depth}{'└─ ' if depth else ''}[bold]{node['kind']}[/] {node['label']} [dim]{detail}[/]")


@app.command()
def datasets(remote: RemoteOption = None, as_json: JsonOption = False) -> None:
    """List dataset versions."""
    with _backend(remote) as c:
        found = c.datasets()
    if as_json:
        _print_json(found)
        return
    for dataset in found:
        _dataset_line(dataset)


@app.command()
def models(
    name: Annotated[str | None, typer.Argument(help="Only versions of this model.")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """List model versions and their aliases."""
    with _backend(remote) as c:
        found = c.models(name)
    if as_json:
        _print_json(found)
        return
    for model in found:
        _model_line(model)


@app.command()
def perf(
    method: Annotated[str | None, typer.Option(help="Only this method.")] = None,
    limit: Annotated[int, typer.Option(help="How many recent records.")] = 1000,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Performance records of method calls, with medians per method."""
    with _backend(remote) as c:
        result = c.perf(method, limit)
    if as_json:
        _print_json(result)
        return
    table = Table(title="performance (medians)")
    for column in ("method", "calls", "errors", "duration s", "cpu s", "rows in", "peak RSS MB"):
        table.add_column(column, justify="right")
    for s in result["summary"]:
        table.add_row(
            s["method"],
            str(s["calls"]),
            str(s["errors"]),
            f"{s['median_duration_s']:.3f}",
            f"{s['median_cpu_s']:.3f}",
            _fmt(s["median_rows_in"]),
            f"{s['max_peak_rss_mb']:.0f}",
        )
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve the REST API (OpenAPI at /docs)."""
    import uvicorn

    uvicorn.run(
        "crispml.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        loop="uvloop",
        http="httptools",
    )


@app.command()
def demo(
    rows: Annotated[int, typer.Option(help="Rows of synthetic data.")] = REFERENCE_ROWS,
    algorithm: Annotated[str, typer.Option(help="Algorithm to train.")] = "rf",
    param: Annotated[list[str] | None, typer.Option("--param", help="Hyper-parameter key=value.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the reference scenario end to end and print a table per frame."""
    started = time.perf_counter()
    params = _params(param)
    with _session() as c, _progress(not as_json) as step:
        result = run_demo(
            c.lifecycle,
            c.scoring,
            c.settings.home / "data",
            rows=rows,
            algorithm=algorithm,
            params=params,
            step=step,
        )
    elapsed = time.perf_counter() - started
    if as_json:
        _print_json({"model": result.model.ref, "seconds": elapsed, "verification": result.verification.rows})
        return
    out.print(
        f"ingested {result.raw.rows:,} rows into {result.raw.frames} frames -> {result.raw.name}/{result.raw.version}"
    )
    out.print(
        f"prepared: {result.prepared.report['duplicates_removed']} duplicates removed -> {result.prepared.rows:,} rows"
    )
    _model_line(jsonable(result.model))
    out.print(f"scored {result.scored.batch.rows:,} records of frames 7-12 in batch {result.scored.batch.id}")
    out.print(f"labelled {result.labels.imported:,} records ({result.labels.positives} frauds)")
    columns = [
        "frame",
        "scored",
        "labelled",
        "positives",
        "roc_auc",
        "report_roc_auc",
        "pr_auc",
        "precision",
        "recall",
        "f1",
    ]
    out.print(_kpi_table(f"verification of {result.model.ref} on frames 7-12", result.verification.rows, columns))
    out.print(f"demo finished in {elapsed:.0f}s; state kept in {c.settings.home}")
