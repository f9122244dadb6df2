"""What a command runs against (the local store or a server), its progress bars and its parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from crispml.cli.render import stderr
from crispml.errors import InvalidInput

if TYPE_CHECKING:
    from crispml.backends import Backend
    from crispml.backends.local_backend import LocalBackend

ProgressCallback = Callable[[str, float], None]


@contextmanager
def backend(remote: str | None) -> Iterator[Backend]:
    """The local store, or the server at `remote`; a remote job's id is announced on stderr."""
    from crispml.backends import open_local, open_remote

    if remote:
        with open_remote(remote, announce=lambda text: stderr().print(text)) as found:
            yield found
    else:
        with open_local() as local:
            yield local


@contextmanager
def local() -> Iterator[LocalBackend]:
    """The local store only (commands that need the whole container, such as `demo`)."""
    from crispml.backends import open_local

    with open_local() as found:
        yield found


@contextmanager
def progress(enabled: bool) -> Iterator[Callable[[str], ProgressCallback]]:
    """Progress bars on stderr, one per step; silent with --json or when stderr is not a terminal."""
    if not enabled or not stderr().is_terminal:
        yield lambda _title: lambda _phase, _fraction: None
        return
    bars = Progress(
        TextColumn("{task.fields[title]:<10}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=stderr(),
        transient=False,
    )

    def step(title: str) -> ProgressCallback:
        task = bars.add_task("", total=1.0, title=title)

        def update(phase: str, fraction: float) -> None:
            bars.update(task, completed=fraction, description=phase)

        return update

    with bars:
        yield step


def parse_params(pairs: list[str] | None) -> dict[str, Any]:
    """`--param key=value` pairs as typed hyper-parameters."""
    from crispml.steps.algorithms import parse_param_value

    params: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidInput(f"--param {pair!r} must look like key=value", field="param")
        params[key.strip()] = parse_param_value(value)
    return params


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    """`--OPTION COLUMN=VALUE` pairs (or arguments) as a dict; names the malformed one."""
    found: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInput(f"{option} {pair!r} must look like COLUMN=VALUE", field=option.lstrip("-"))
        found[key.strip()] = value.strip()
    return found
