"""`crispml keys generate|encrypt-files`: keys for dataset and model files at rest, and the files encrypted."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from crispml.cli import render
from crispml.cli.options import JsonOption
from crispml.cli.session import local
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


@app.command("encrypt-files")
def encrypt_files(as_json: JsonOption = False) -> None:
    """Encrypt the dataset and model files written before encryption was turned on, or under an older key
    of the key file, with the current key. Run it where the files are (the server may keep running):
    each file is replaced atomically and only once its plaintext still hashes to its name."""
    with local() as here:
        sweep = here.c.privacy.encrypt_at_rest()
    answer = {"rewritten": sweep.rewritten, "rewritten_bytes": sweep.rewritten_bytes,
              "already_current": sweep.already_current, "mismatched": sweep.mismatched}  # fmt: skip
    if as_json:
        render.print_json(answer)
        return
    render.line(f"encrypted {sweep.rewritten} files ({sweep.rewritten_bytes:,} bytes); "
                f"{sweep.already_current} were already under the current key")  # fmt: skip
    for name in sweep.mismatched:
        render.line(f"[red]left alone[/] {name}: its content no longer matches its name")
