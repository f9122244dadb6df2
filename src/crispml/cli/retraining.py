"""`crispml retrain policy set|list|remove`, `crispml retrain check|triggers`: retraining that triggers itself."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from crispml.cli import render
from crispml.cli.options import FormatOption, JsonOption, RemoteOption, output_format
from crispml.cli.pipelines import read_pipeline
from crispml.cli.render import OutputFormat
from crispml.cli.session import backend
from crispml.errors import InvalidInput

POLICY_COLUMNS = ["model", "conditions", "cooldown", "pipeline", "last_fired_at"]
TRIGGER_COLUMNS = ["id", "model", "condition", "status", "challenger", "job_id", "fired_at"]

app = typer.Typer(help="Retraining that triggers itself: policies per model, and their triggers.",
                  no_args_is_help=True)  # fmt: skip
policy_app = typer.Typer(help="Retraining policies: set, list, remove.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")


def _policy_file(path: Path) -> dict[str, Any]:
    """A policy file's mapping (model, when, every, cooldown, pipeline: a path relative to the file)."""
    try:
        found = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read the policy file {path}: {exc.strerror}", field="file") from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the policy file {path} is not valid YAML: {exc}", field="file") from None
    known = {"model", "when", "every", "cooldown", "pipeline"}
    if not isinstance(found, dict) or set(found) - known:
        raise InvalidInput(f"the policy file {path} is a mapping of {', '.join(sorted(known))}", field="file")
    if isinstance(found.get("pipeline"), str):
        found["pipeline"] = str((path.parent / found["pipeline"]).resolve())
    when = found.get("when") or []
    found["when"] = [when] if isinstance(when, str) else [str(w) for w in when]
    return found


@policy_app.command("set")
def set_policy(
    model: Annotated[str | None, typer.Argument(help="The model to retrain (its pipeline's train.name).")] = None,
    when: Annotated[
        list[str] | None,
        typer.Option(
            "--when",
            help="A condition: new-labels>=500, "
            "realized-roc_auc<0.85 (KPIs: roc_auc, pr_auc, precision, recall, f1), "
            "estimated-roc_auc<0.85 (the CBPE estimate of unlabelled scores; KPIs: roc_auc, precision, recall, f1), "
            "drift-alarm (a feature of the champion at alarm level) or drift-psi>0.25. Repeat for more.",
        ),
    ] = None,
    every: Annotated[str | None, typer.Option("--every", help="Also retrain on a schedule: 30m, 24h, 7d.")] = None,
    cooldown: Annotated[str | None, typer.Option("--cooldown", help="Shortest time between triggers (1h).")] = None,
    pipeline: Annotated[Path | None, typer.Option("--pipeline", help="The pipeline file a trigger runs.")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="A policy file (YAML: model, when, every, cooldown, pipeline).")
    ] = None,
    remote: RemoteOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set (or replace) a model's retraining policy (admin). A trigger runs the pipeline on the newest labelled
    frames and registers the result as the model's challenger; the champion is never moved."""
    spec: dict[str, Any] = _policy_file(file) if file is not None else {}
    model = model or spec.get("model")
    path = pipeline or (Path(spec["pipeline"]) if spec.get("pipeline") else None)
    if model is None or path is None:
        raise InvalidInput("name the model and the pipeline (MODEL --pipeline FILE, or --file POLICY.yaml)",
                           field="pipeline")  # fmt: skip
    conditions = [*spec.get("when", []), *(when or [])]
    with backend(remote) as c:
        policy = c.set_retrain_policy(
            model,
            when=conditions,
            pipeline=read_pipeline(path),
            every=every or spec.get("every"),
            cooldown=cooldown or spec.get("cooldown"),
        )
    if as_json:
        render.print_json(policy)
        return
    render.line(f"retraining policy of [bold]{policy['model']}[/]: {'; '.join(policy['conditions'])} "
                f"(cooldown {policy['cooldown_s']:g} s, pipeline {policy['pipeline'].get('name')})")  # fmt: skip


@policy_app.command("list")
def list_policies(remote: RemoteOption = None, output: FormatOption = OutputFormat.TABLE,
                  as_json: JsonOption = False) -> None:  # fmt: skip
    """Every model's retraining policy."""
    with backend(remote) as c:
        found = c.retrain_policies()
    rows = [
        {"model": p["model"], "conditions": "; ".join(p["conditions"]), "cooldown": f"{p['cooldown_s']:g} s",
         "pipeline": p["pipeline"].get("name"), "last_fired_at": p["last_fired_at"] or ""}
        for p in found
    ]  # fmt: skip
    render.emit(
        found, rows, POLICY_COLUMNS, output_format(output, as_json), keys=["model"], title="retraining policies"
    )


@policy_app.command("remove")
def remove_policy(model: Annotated[str, typer.Argument(help="The model whose policy goes.")],
                  remote: RemoteOption = None, as_json: JsonOption = False) -> None:  # fmt: skip
    """Remove a model's retraining policy (admin); its past triggers stay."""
    with backend(remote) as c:
        c.remove_retrain_policy(model)
    render.print_json({"removed": model}) if as_json else render.line(
        f"removed the retraining policy of [bold]{model}[/]"
    )


@app.command("check")
def check(remote: RemoteOption = None, output: FormatOption = OutputFormat.TABLE, as_json: JsonOption = False) -> None:
    """Check every policy once (admin). Locally, the triggered pipelines run here to their end and their webhooks
    are sent; on a server (--remote) they run there as jobs."""
    with backend(remote) as c:
        fired = c.retrain_check()
    _emit_triggers(fired, output_format(output, as_json), "triggers fired")


@app.command("triggers")
def triggers(
    model: Annotated[str | None, typer.Option("--model", help="Only this model's triggers.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
    remote: RemoteOption = None,
    output: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
) -> None:
    """Retraining triggers, newest first: the condition that held, the job, the challenger it made."""
    with backend(remote) as c:
        found = c.retrain_triggers(model, limit)
    _emit_triggers(found, output_format(output, as_json), "retraining triggers")


def _emit_triggers(found: list[dict[str, Any]], output: OutputFormat, title: str) -> None:
    rows = [{**t, "challenger": t["challenger"] or t["error"] or ""} for t in found]
    render.emit(found, rows, TRIGGER_COLUMNS, output, keys=["id"], title=title)
