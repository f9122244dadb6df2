"""`crispml privacy ...`: column tags, pseudonymization, anonymization, erasure and retention, locally or
on a server (`--remote`). `--json` prints the REST answer's shape in both cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from crispml.cli import render
from crispml.cli.options import JsonOption, RemoteOption
from crispml.cli.session import parse_pairs
from crispml.errors import InvalidInput

app = typer.Typer(
    help="Data protection: tag columns, pseudonymize, anonymize, erase a data subject, apply retention.",
    no_args_is_help=True,
)
retention_app = typer.Typer(help="Retention periods per dataset name, and deleting expired versions.",
                            no_args_is_help=True)  # fmt: skip
app.add_typer(retention_app, name="retention")

Local = Callable[[Any], Any]
"""Runs on the local `PrivacyService`; returns the answer model."""
Remote = Callable[[Any], Any]
"""Runs on a `crispml.client.Client`; returns the answer as JSON."""


def _run(remote: str | None, local: Local, over_http: Remote) -> dict[str, Any]:
    from crispml.backends import open_local, open_remote

    if remote:
        with open_remote(remote) as server:
            return dict(over_http(server.api))
    with open_local() as here:
        return dict(local(here.c.privacy).model_dump(mode="json"))


def _dataset_answer(dataset: Any) -> Any:
    from crispml.contract.answers import DatasetAnswer

    return DatasetAnswer.from_domain(dataset)


def _show_dataset(dataset: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.print_json(dataset)
        return
    render.line(f"[bold]{dataset['name']}/{dataset['version']}[/] ({dataset['stage']}) id [cyan]{dataset['id']}[/] "
                f"rows {dataset['rows']:,}")  # fmt: skip
    for column, tag in dataset["tags"].items():
        render.line(f"  {column}: {tag}")


@app.command()
def tag(
    dataset: Annotated[str, typer.Argument(help="Dataset: name, name/version or id.")],
    pairs: Annotated[list[str], typer.Argument(help="COLUMN=personal|quasi-identifier|sensitive|none ...")],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Tag columns of a dataset version (`none` clears a tag); tags travel to datasets derived from it."""
    tags: dict[str, str | None] = {c: (None if t == "none" else t) for c, t in parse_pairs(pairs, "tag").items()}
    answer = _run(
        remote,
        lambda service: _dataset_answer(service.tag(dataset, tags)),
        lambda client: client.tag_columns(dataset, tags),
    )
    _show_dataset(answer, as_json)


@app.command()
def pseudonymize(
    dataset: Annotated[str, typer.Argument(help="Dataset: name, name/version or id.")],
    columns: Annotated[
        list[str] | None, typer.Option("--column", help="Column (default: those tagged personal).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the result (default: the same name).")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """A new version with columns replaced by keyed HMAC-SHA256 pseudonyms (key: CRISPML_PSEUDONYM_KEY_FILE)."""
    answer = _run(
        remote,
        lambda service: _dataset_answer(service.pseudonymize(dataset, columns=columns or None, name=name)),
        lambda client: client.pseudonymize(dataset, columns=columns or None, name=name),
    )
    _show_dataset(answer, as_json)


@app.command()
def anonymize(
    dataset: Annotated[str, typer.Argument(help="Dataset: name, name/version or id.")],
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Smallest group of equal quasi-identifiers.")],
    quasi: Annotated[list[str] | None, typer.Option("--quasi", help="Quasi-identifier (default: the tagged).")] = None,
    sensitive: Annotated[str | None, typer.Option(help="Sensitive column for l-diversity.")] = None,
    l_diversity: Annotated[
        int | None, typer.Option("-l", "--l", min=1, help="Distinct sensitive values per group.")
    ] = None,
    max_suppression: Annotated[
        float, typer.Option("--max-suppression", min=0, max=1, help="Share of rows that may be suppressed.")
    ] = 0.05,
    name: Annotated[str | None, typer.Option(help="Name of the result (default: NAME-anon).")] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """A new k-anonymous version (generalized, rows suppressed); refused below k, nothing written."""
    from crispml.contract.privacy import AnonymizationAnswer

    options: dict[str, Any] = {
        "k": k, "quasi_identifiers": quasi or None, "sensitive": sensitive, "l_diversity": l_diversity,
        "max_suppression": max_suppression, "name": name,
    }  # fmt: skip
    answer = _run(
        remote,
        lambda service: AnonymizationAnswer.of(service.anonymize(dataset, **options)),
        lambda client: client.anonymize(dataset, **options),
    )
    if as_json:
        render.print_json(answer)
        return
    _show_dataset(answer["dataset"], False)
    report = answer["report"]
    render.line(
        f"k achieved {report['k_achieved']} (requested {report['k_requested']}), rows suppressed "
        f"{report['rows_suppressed']} of {report['rows_in']}, information loss {report['information_loss']:.4f}"
    )


@app.command()
def erase(
    key: Annotated[str, typer.Option("--key", help="COLUMN=VALUE naming the data subject.")],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Erase a data subject: new dataset versions without their rows, old files deleted, labels and scores gone."""
    from crispml.contract.privacy import ErasureAnswer

    pairs = parse_pairs([key], "--key")
    if len(pairs) != 1:  # pragma: no cover - parse_pairs of one pair gives one
        raise InvalidInput("--key takes one COLUMN=VALUE", field="key")
    ((column, value),) = pairs.items()
    answer = _run(
        remote,
        lambda service: ErasureAnswer.of(service.erase(column, value)),
        lambda client: client.erase(column, value),
    )
    if as_json:
        render.print_json(answer)
        return
    if not answer["versions"]:
        render.line(f"no dataset holds a row with {column} = that value; nothing changed")
        return
    for version in answer["versions"]:
        render.line(f"erased {version['erased']} ({version['rows_removed']} rows): now {version['replaced_by']}")
    render.line(f"labels deleted {answer['labels_deleted']}, scores deleted {answer['scores_deleted']}, "
                f"files deleted {answer['files_deleted']}")  # fmt: skip
    if answer["models"]:
        render.line(f"models trained on erased data (retrain them): {', '.join(answer['models'])}")


def _show_periods(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.print_json(answer)
        return
    for name, days in sorted(answer["periods"].items()):
        render.line(f"{name}: {days} days")


@retention_app.command("set")
def set_retention(
    name: Annotated[str, typer.Argument(help="Dataset name: the period applies to all its versions.")],
    days: Annotated[str, typer.Argument(help="Days a version is kept after its creation, or 'none'.")],
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set (or with 'none' clear) the retention period of a dataset name."""
    from crispml.contract.privacy import RetentionAnswer

    if days != "none" and not days.isdigit():
        raise InvalidInput(f"days {days!r} must be a whole number of days or 'none'", field="days")
    period = None if days == "none" else int(days)
    answer = _run(
        remote,
        lambda service: RetentionAnswer(periods=service.set_retention(name, period)),
        lambda client: client.set_retention(name, period),
    )
    _show_periods(answer, as_json)


@retention_app.command("list")
def list_retention(remote: RemoteOption = None, as_json: JsonOption = False) -> None:
    """Retention periods by dataset name."""
    from crispml.contract.privacy import RetentionAnswer

    answer = _run(
        remote, lambda service: RetentionAnswer(periods=service.retention()), lambda client: client.retention()
    )
    _show_periods(answer, as_json)


@retention_app.command("apply")
def apply_retention(
    force: Annotated[bool, typer.Option("--force", help="Also delete versions registered models depend on.")] = False,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete the rows of versions past their retention (metadata and lineage stay, marked expired)."""
    from crispml.contract.privacy import RetentionRunAnswer

    answer = _run(
        remote,
        lambda service: RetentionRunAnswer.of(service.apply_retention(force=force)),
        lambda client: client.apply_retention(force=force),
    )
    if as_json:
        render.print_json(answer)
        return
    render.line(f"expired {len(answer['expired'])} versions: {', '.join(answer['expired']) or 'none'}")
    for kept in answer["kept"]:
        render.line(f"kept {kept['dataset']}: registered {', '.join(kept['needed_by'])} depend on it; "
                    "--force deletes it anyway")  # fmt: skip
