"""Where `report` and `verify` write their pictures and pages (--html FILE, --png DIR)."""

from __future__ import annotations

import re
from pathlib import Path

from crispml.cli.render import stderr
from crispml.errors import InvalidInput


def file_stem(model: str) -> str:
    """A model reference as part of a file name: fraud/1 -> fraud-1, fraud@champion -> fraud-champion."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", model)


def _write(path: Path, data: bytes, option: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}", field=option) from None
    stderr().print(f"wrote {path}")


def write_page(path: Path, page: str) -> None:
    """Write an HTML page (UTF-8) and say so on stderr."""
    _write(path, page.encode("utf-8"), "html")


def write_picture(path: Path, picture: bytes) -> None:
    """Write a picture and say so on stderr."""
    _write(path, picture, "png")
