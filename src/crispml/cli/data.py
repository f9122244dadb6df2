"""Data commands: synth, ingest, prepare, curate (methods 1-3), datasets and lineage."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from crispml.cli import render
from crispml.cli.options import (
    AlgorithmOption,
    FormatOption,
    FramesOption,
    JsonOption,
    MissingName,
    RemoteOption,
    StageName,
    output_format,
)
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend, parse_pairs, progress

REFERENCE_ROWS = 284_807  # the public credit-card data set (crispml.steps.synthetic.REFERENCE_ROWS)
DATASET_COLUMNS = ["name", "version", "stage", "rows", "frames", "id", "sha256", "created_by"]


def dataset_line(dataset: dict[str, Any]) -> None:
    render.line(
        f"[bold]{dataset['name']}/{dataset['version']}[/] ({dataset['stage']}) id [cyan]{dataset['id']}[/] "
        f"rows {dataset['rows']:,} frames {dataset['frames']} sha256 {dataset['sha256'][:12]}"
    )


def synth(
    out_path: Annotated[Path, typer.Option("--out", help="Target .csv, .zip or .parquet file.")] = Path(
        "creditcard.csv"
    ),
    rows: Annotated[int, typer.Option(help="Rows to generate.")] = REFERENCE_ROWS,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    drift_from: Annotated[
        int | None, typer.Option("--drift-from", help="Drift from this time frame (1..12) on.")
    ] = None,
    shift: Annotated[
        list[str] | None, typer.Option("--shift", help="FEATURE=SIGMAS: move a feature by standard deviations.")
    ] = None,
    fraud_rate: Annotated[
        str | None, typer.Option("--fraud-rate", help="Multiply the fraud rate, e.g. x2 or 0.5.")
    ] = None,
    pattern: Annotated[
        str | None, typer.Option(help="Change the fraud pattern: swap (the signal moves to other components).")
    ] = None,
) -> None:
    """Write the seeded synthetic twin of the credit-card-fraud data set, optionally drifting."""
    from crispml.services.synthesis import write_synthetic

    drift = synth_drift(drift_from, shift, fraud_rate, pattern)
    started = time.perf_counter()
    write_synthetic(out_path, rows, seed, drift)
    drifted = f" drifting from frame {drift_from}" if drift is not None else ""
    render.line(f"wrote {rows:,} rows to {out_path}{drifted} in {time.perf_counter() - started:.1f}s")


def synth_drift(drift_from: int | None, shift: list[str] | None, fraud_rate: str | None, pattern: str | None) -> Any:
    """The `Drift` the synth options describe, None without any; a drift option needs --drift-from."""
    from crispml.errors import InvalidInput
    from crispml.steps.synthetic import Drift

    if drift_from is None:
        if shift or fraud_rate is not None or pattern is not None:
            raise InvalidInput("--shift, --fraud-rate and --pattern need --drift-from FRAME", field="drift_from")
        return None
    sigmas: dict[str, float] = {}
    for name, value in parse_pairs(shift, "--shift").items():
        try:
            sigmas[name] = float(value)
        except ValueError:
            raise InvalidInput(f"--shift {name}={value}: {value!r} is not a number", field="shift") from None
    rate = 1.0
    if fraud_rate is not None:
        try:
            rate = float(fraud_rate.strip().lstrip("x×"))
        except ValueError:
            raise InvalidInput(
                f"--fraud-rate {fraud_rate!r} must be a multiplier such as x2 or 0.5", field="fraud_rate"
            ) from None
    return Drift(from_frame=drift_from, shift=sigmas, fraud_rate=rate, pattern=pattern)  # type: ignore[arg-type]


def ingest(
    path: Annotated[
        str | None, typer.Argument(help="CSV, zipped CSV or Parquet file (inside --source's folder if it holds files).")
    ] = None,
    source: Annotated[str | None, typer.Option(help="A registered source (`crispml sources list`).")] = None,
    table: Annotated[str | None, typer.Option(help="Table to read from --source.")] = None,
    query: Annotated[str | None, typer.Option(help="One read-only SELECT to run on --source.")] = None,
    pool: Annotated[
        str | None,
        typer.Option(
            "--from-pool",
            help="A dataset of the shared data pool (NAME, NAME/VERSION, NAME@VERSION), "
            "read through this environment's filter (CRISPML_POOL_FILTER).",
        ),
    ] = None,
    url: Annotated[str | None, typer.Option(hidden=True)] = None,
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the file's stem).")] = None,
    slices: Annotated[int, typer.Option(help="Number of equal time frames.")] = 12,
    percent_data: Annotated[float, typer.Option("--percent-data", help="Share of rows to keep, 0 < p <= 1.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the sample.")] = 42,
    target: Annotated[str, typer.Option(help="Binary target column.")] = "Class",
    key: Annotated[str | None, typer.Option(help="Record key column (derived from content if none).")] = None,
    time_column: Annotated[str | None, typer.Option("--time-column", help="Cut frames by this column.")] = None,
    project: Annotated[
        str | None, typer.Option(help="Project the dataset belongs to (default: the key's only one, else 'default').")
    ] = None,
    tags: Annotated[list[str] | None, typer.Option("--tag", help="COLUMN=personal|quasi-identifier|sensitive.")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """1. DataIngestion: raw data into a new immutable dataset version."""
    from crispml.domain import SourceSpec
    from crispml.errors import InvalidInput

    if url is not None:
        raise InvalidInput(
            "--url is gone: an admin registers the database once (crispml sources add NAME URL), "
            "then ingest names it with --source NAME --table T (or --query)",
            field="source",
        )
    if pool is not None and (path or source or table or query):
        raise InvalidInput("--from-pool reads a pool dataset alone: name no file, --source, --table or --query",
                           field="source.pool")  # fmt: skip
    spec = SourceSpec(path=path, source=source, table=table, query=query, pool=pool)
    with backend(remote) as c, progress(not as_json) as step:
        dataset = c.ingest(
            spec,
            name=name,
            slices=slices,
            percent_data=percent_data,
            seed=seed,
            target=target,
            key=key,
            time_column=time_column,
            project=project,
            tags=parse_pairs(tags, "--tag") or None,
            progress=step("ingest"),
        )
    if as_json:
        render.print_json(dataset)
        return
    dataset_line(dataset)
    stats = [
        {"column": s["column"], **{k: f"{s[k]:.4g}" for k in ("min", "q1", "median", "mean", "q3", "max")}}
        for s in dataset["report"]["stats"]
    ]
    render.table(
        stats,
        ["column", "min", "q1", "median", "mean", "q3", "max"],
        keys=["column"],
        title="summary of numeric columns",
    )


def prepare(
    dataset: Annotated[str, typer.Argument(help="Raw dataset: id, name or name/version.")],
    missing: Annotated[MissingName, typer.Option(help="Missing values.")] = "median",
    name: Annotated[str | None, typer.Option(help="Name of the prepared dataset.")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """2. DataPreparation: algorithm-independent cleaning, with a report of what changed."""
    with backend(remote) as c, progress(not as_json) as step:
        result = c.prepare(dataset, missing=missing, name=name, progress=step("prepare"))
    if as_json:
        render.print_json(result)
        return
    dataset_line(result)
    for key, value in result["report"].items():
        render.line(f"  {key}: {value}")


def curate(
    dataset: Annotated[str, typer.Argument(help="Prepared dataset: id, name or name/version.")],
    algorithm: AlgorithmOption = "rf",
    frames: FramesOption = None,
    name: Annotated[str | None, typer.Option(help="Name of the curated dataset.")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """3. DataCuration: algorithm-specific transforms fitted on training frames only."""
    with backend(remote) as c, progress(not as_json) as step:
        result = c.curate(dataset, algorithm=algorithm, frames=frames, name=name, progress=step("curate"))
    if as_json:
        render.print_json(result)
        return
    dataset_line(result)
    for key, value in result["report"].items():
        render.line(f"  {key}: {value}")


def datasets(
    stage: Annotated[StageName | None, typer.Option(help="Only datasets of this stage.")] = None,
    name: Annotated[str | None, typer.Option(help="Only versions of this name.")] = None,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """List dataset versions."""
    with backend(remote) as c:
        found = c.datasets(stage, name)
    chosen = output_format(output, as_json)
    rows = found if chosen is not OutputFormat.TABLE else [{**d, "sha256": d["sha256"][:12]} for d in found]
    render.emit(found, rows, DATASET_COLUMNS, chosen, keys=["name", "version"], title="datasets")


def lineage(
    ref: Annotated[str, typer.Argument(help="Model or dataset reference.")],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the chain from a model or dataset back to its raw source."""
    with backend(remote) as c:
        chain = c.lineage(ref)
    if as_json:
        render.print_json(chain)
        return
    for depth, node in enumerate(chain):
        detail = ", ".join(
            f"{k}={v}"
            for k, v in node["detail"].items()
            if k in {"algorithm", "sha256", "rows", "created_by", "created_at"}
        )
        render.line(f"{'  ' * depth}{'└─ ' if depth else ''}[bold]{node['kind']}[/] {node['label']} [dim]{detail}[/]")
