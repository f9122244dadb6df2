"""`crispml console --remote URL`: the admin console on this machine, for a crispml server elsewhere."""

from __future__ import annotations

from typing import Annotated

import typer

from crispml.cli import render
from crispml.cli.operations import check_port


def console(
    remote: Annotated[
        str, typer.Option("--remote", envvar="CRISPML_REMOTE", help="URL of the crispml server the console acts on.")
    ],
    port: Annotated[int, typer.Option(help="Local TCP port (on 127.0.0.1).", min=0, max=65535)] = 8080,
) -> None:
    """Serve the admin console on 127.0.0.1:PORT/console/, its API calls forwarded to REMOTE.

    `crispml serve` has the console at /console already; this is for a server on another machine. The
    console asks for an API key on that server (kept in the browser tab only) when it requires one.
    """
    import uvicorn

    from crispml.api.console_proxy import create_console_proxy
    from crispml.errors import InvalidInput

    if not remote.startswith(("http://", "https://")):
        raise InvalidInput(f"--remote {remote!r} is not an http:// or https:// URL", field="remote")
    check_port("127.0.0.1", port)
    render.line(f"console at [bold]http://127.0.0.1:{port}/console/[/] for {remote}")
    uvicorn.run(create_console_proxy(remote), host="127.0.0.1", port=port, log_level="warning")
