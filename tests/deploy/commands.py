"""The crispml command lines that deployment files run, found and held to the CLI that exists."""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from crispml.cli import app

ROOT = Path(__file__).resolve().parents[2]
_SHELL_ENDS = {"|", "||", "&&", ";", ")", "&"}


def calls_in_script(script: str) -> list[list[str]]:
    """The arguments of every `crispml` a shell script runs (comments skipped, continuations joined)."""
    calls = []
    for line in script.replace("\\\n", " ").splitlines():
        tokens = shlex.split(line, comments=True)
        for at, token in enumerate(tokens):
            if token == "crispml" or token.endswith("/crispml"):
                args: list[str] = []
                for arg in tokens[at + 1 :]:
                    if arg in _SHELL_ENDS or arg.startswith((">", "2>")):
                        break
                    args.append(arg)
                calls.append(args)
    return calls


def calls_in_container(spec: dict) -> list[list[str]]:  # type: ignore[type-arg]
    """What a Kubernetes or Tekton container (or step) runs of crispml: its command and args, or its script."""
    command = [*(spec.get("command") or []), *(spec.get("args") or [])]
    if command and (command[0] == "crispml" or command[0].endswith("/crispml")):
        return [command[1:]]
    if command[:2] in (["sh", "-c"], ["/bin/sh", "-c"], ["bash", "-c"], ["/bin/bash", "-c"]):
        return calls_in_script(" ".join(command[2:]))
    return calls_in_script(spec.get("script") or "")


@cache
def _root_command() -> Any:
    """The click command behind the Typer app (typer may carry its own copy of click: no isinstance here)."""
    return typer.main.get_command(app)


def check_call(args: list[str], where: str) -> None:
    """`crispml ARGS` names a command that exists (its --help answers) and parses with those options."""
    command = _root_command()
    path: list[str] = []
    rest = list(args)
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    assert path and not hasattr(command, "commands"), f"{where}: `crispml {shlex.join(args)}` names no command"
    shown = CliRunner().invoke(app, [*path, "--help"])
    assert shown.exit_code == 0, f"{where}: crispml {' '.join(path)} --help: {shown.output}"
    try:
        command.make_context(f"crispml {' '.join(path)}", rest)
    except Exception as exc:  # click's UsageError or BadParameter, from whichever click typer uses
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        raise AssertionError(f"{where}: `crispml {shlex.join(args)}`: {message}") from None
