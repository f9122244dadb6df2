"""`crispml keys generate`: a new key for encrypting dataset and model files at rest."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from crispml.errors import Conflict

app = typer.Typer(help="Encryption keys for dataset and model files at rest.", no_args_is_help=True)


@app.command("generate")
def generate(
    file: Annotated[
        Path | None,
        typer.Option(help="Write the key to this new file (mode 0600) instead of printing it."),
    ] = None,
) -> None:
    """A random AES-256 key as base64 text, for CRISPML_ENCRYPTION_KEY or a CRISPML_ENCRYPTION_KEY_FILE.

    The key is never stored in crispml's database: keep it (and a copy) where the server can read it.
    Losing it loses every file written under it.
    """
    key = base64.b64encode(secrets.token_bytes(32)).decode("ascii")
    if file is None:
        typer.echo(key)
        return
    try:
        # O_EXCL: never overwrite a key files may already be encrypted under.
        handle = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise Conflict(f"{file} already exists; a key file is never overwritten (add keys by hand to rotate)") from None
    with os.fdopen(handle, "w") as out:
        out.write(key + "\n")
    typer.echo(f"wrote a new key to {file}; set CRISPML_ENCRYPTION_KEY_FILE={file}")
