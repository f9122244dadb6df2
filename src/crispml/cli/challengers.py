"""`crispml challenger check|proposals|approve|reject`: this environment's challenger promotion policy."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crispml.cli import render
from crispml.cli.options import FormatOption, JsonOption, RemoteOption, output_format
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend

DECISION_COLUMNS = ["model", "outcome", "champion", "challenger", "records", "difference", "p_value", "reason"]
PROPOSAL_COLUMNS = ["id", "model", "champion", "challenger", "status", "proposed_at", "decided_by", "reason"]

app = typer.Typer(help="The challenger promotion policy (CRISPML_CHALLENGER_POLICY): check, approve, reject.",
                  no_args_is_help=True)  # fmt: skip
ModelArg = Annotated[str, typer.Argument(help="The model name whose open proposal is decided.")]
ReasonOption = Annotated[str | None, typer.Option("--reason", help="Why (kept with the decision).")]


@app.command("check")
def check(
    model: Annotated[str | None, typer.Argument(help="Only this model (default: every one with a challenger).")] = None,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Apply the policy once (admin): champion and challenger compared on the labelled records both scored
    (DeLong), then wait, keep the champion, refuse (a gate), promote (mode auto) or propose (mode propose)."""
    with backend(remote) as c:
        found = c.challenger_check(model)
    rows = [{**d, "records": d["figures"].get("records"), "difference": _figure(d, "difference", "+.4f"),
             "p_value": _figure(d, "p_value", ".3g")} for d in found]  # fmt: skip
    render.emit(found, rows, DECISION_COLUMNS, output_format(output, as_json), keys=["model"], title="decisions")


@app.command("proposals")
def proposals(
    model: Annotated[str | None, typer.Option("--model", help="Only this model's proposals.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="open, approved, rejected or superseded.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Challengers proposed for approval, newest first."""
    with backend(remote) as c:
        found = c.challenger_proposals(model, status, limit)
    rows = [{**p, "decided_by": p["decided_by"] or "", "reason": p["reason"] or ""} for p in found]
    render.emit(found, rows, PROPOSAL_COLUMNS, output_format(output, as_json), keys=["id"], title="proposals")


@app.command("approve")
def approve(model: ModelArg, reason: ReasonOption = None, remote: RemoteOption = None,
            as_json: JsonOption = False) -> None:  # fmt: skip
    """Approve the model's open proposal (admin): the challenger becomes champion, the old champion the fallback."""
    with backend(remote) as c:
        _print(c.approve_challenger(model, reason), as_json)


@app.command("reject")
def reject(model: ModelArg, reason: ReasonOption = None, remote: RemoteOption = None,
           as_json: JsonOption = False) -> None:  # fmt: skip
    """Reject the model's open proposal (admin): the champion stays, and the pair is not proposed again."""
    with backend(remote) as c:
        _print(c.reject_challenger(model, reason), as_json)


def _figure(decision: dict[str, Any], key: str, spec: str) -> str:
    value = decision["figures"].get(key)
    return "" if value is None else format(value, spec)


def _print(decision: dict[str, Any], as_json: bool) -> None:
    if as_json:
        render.print_json(decision)
        return
    render.line(f"[bold]{decision['model']}[/]: {decision['outcome']} ({decision['champion']} -> "
                f"{decision['challenger']}): {decision['reason']}")  # fmt: skip
