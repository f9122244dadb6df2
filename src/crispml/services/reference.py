"""The reference system's data source: the credit-card file, synthesized once on first use."""

from __future__ import annotations

import fcntl
from pathlib import Path

from crispml.services.synthesis import write_synthetic
from crispml.steps.synthetic import REFERENCE_ROWS


def ensure_reference_source(path: Path, rows: int = REFERENCE_ROWS) -> Path:
    """Return `path`, writing the synthetic reference file there first if it is missing.

    A lock file serialises concurrent first calls, across threads and processes.
    """
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            write_synthetic(path, rows)
    return path
