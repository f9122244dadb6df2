"""Every error a command can end with, mapped to one line (or one JSON object) and an exit code, here.

Exit codes: 0 done, 1 unexpected failure, 2 bad input or setting (also a refused argument or option),
3 not found, 4 conflict, 5 integrity failure, 6 forbidden, 7 unavailable (a database or server that
cannot be reached), 8 port in use (`serve`), 130 interrupted (Ctrl-C).

With `--json` (or `--format json`) an error is printed on stdout as
`{"error": {"type", "title", "detail", "field", "exit_code"}}`, so a script reads one stream.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# typer vendors click; its UsageError is the base of every refused argument or option value.
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from crispml.errors import CrispmlError, InvalidInput

INTERRUPTED = 130


def _slug(kind: type[CrispmlError]) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind.__name__).lower()


def error_body(exc: CrispmlError) -> dict[str, Any]:
    """The JSON form of an error, its `type` named like the REST API's problem types."""
    return {
        "error": {
            "type": f"/problems/{_slug(type(exc))}",
            "title": type(exc).__name__,
            "detail": exc.message,
            "field": exc.field,
            "exit_code": exc.exit_code,
        }
    }


def fail(exc: CrispmlError, as_json: bool) -> NoReturn:
    """Print `exc` as one red line on stderr (or JSON on stdout) and exit with its code."""
    if as_json:
        sys.stdout.write(json.dumps(error_body(exc)) + "\n")
    else:
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(exc.message)}", highlight=False)
    raise typer.Exit(exc.exit_code)


def _wants_json(args: list[str]) -> bool:
    if "--json" in args or "--format=json" in args:
        return True
    return any(a == "--format" and b == "json" for a, b in itertools.pairwise(args))


class CrispmlGroup(TyperGroup):
    """The top-level group: runs a command and translates what it raises at this one edge."""

    def invoke(self, ctx: Any) -> Any:
        as_json = _wants_json([*ctx._protected_args, *ctx.args])
        try:
            return super().invoke(ctx)
        except CrispmlError as exc:
            fail(exc, as_json)
        except NoArgsIsHelpError:
            raise
        except UsageError as exc:
            fail(_refused(exc), as_json)


def _refused(exc: UsageError) -> InvalidInput:
    """A refused argument or option value as one line, pointing at the command's help."""
    message = exc.format_message().replace("Value error, ", "")
    if exc.ctx is not None:
        message += f" (see '{exc.ctx.command_path} --help')"
    param = getattr(exc, "param", None)
    return InvalidInput(message, field=getattr(param, "name", None))
