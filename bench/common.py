"""What every benchmark shares: machine info, timing, the cached CSV, fresh stores and result files."""

from __future__ import annotations

import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

from crispml.domain import Dataset, SourceSpec
from crispml.local import Crispml

T = TypeVar("T")

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / ".cache"
RESULTS_DIR = BENCH_DIR / "results"
FULL_ROWS = 284_807
POSTGRES_ADMIN_URL = os.environ.get("CRISPML_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def machine_info() -> dict[str, Any]:
    """CPU count, Python and library versions, memory: enough to compare runs across machines."""
    import numpy
    import pandas
    import psutil
    import pyarrow
    import sklearn

    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
        "pyarrow": pyarrow.__version__,
        "scikit-learn": sklearn.__version__,
        "src": source_revision(),
    }


def source_revision() -> dict[str, Any]:
    """The git commit measured, and the files under src/ that differ from it (work in progress)."""
    root = BENCH_DIR.parent

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
        return done.stdout

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return {"commit": git("rev-parse", "HEAD").strip() or None, "dirty_src_files": dirty}


def synthetic_csv(rows: int) -> Path:
    """The seeded synthetic CSV of `rows` rows, written once into the cache folder."""
    from crispml.services.synthesis import write_synthetic

    path = CACHE_DIR / f"creditcard-{rows}.csv"
    if not path.exists():
        write_synthetic(path, rows)
    return path


def timed(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T]:
    """Wall seconds of `fn(*args, **kwargs)`, after a garbage collection so old garbage is not billed to it."""
    gc.collect()
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 3) if denominator > 0 else float("inf")


def goal(metric: str, value: float, limit: float, strict: bool = False, at_least: bool = False) -> dict[str, Any]:
    """A goal 'value <= limit' (or '<' when strict, '>=' when `at_least`) and whether this run met it."""
    if at_least:
        op, met = ">=", value >= limit
    else:
        op, met = ("<", value < limit) if strict else ("<=", value <= limit)
    return {"metric": metric, "op": op, "limit": limit, "value": round(value, 3), "met": met}


class PhaseClock:
    """A crispml progress callback that stamps when each phase is first reported."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.stamps: list[tuple[str, float]] = []

    def __call__(self, phase: str, _fraction: float) -> None:
        if not self.stamps or self.stamps[-1][0] != phase:
            self.stamps.append((phase, time.perf_counter() - self.started))

    def phases(self, total: float) -> dict[str, float]:
        """Seconds between first reports of consecutive phases ('load->fit'), from the call's start to
        its return (`total`). A phase's report may come after some of its work, as 'fit' does."""
        marks = [("start", 0.0), *self.stamps, ("return", total)]
        return {f"{a}->{b}": round(tb - ta, 4) for (a, ta), (b, tb) in pairwise(marks)}


def timed_phases(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T, dict[str, float]]:
    """Like `timed`, passing a PhaseClock as `progress=`; returns (seconds, result, phases)."""
    gc.collect()
    clock = PhaseClock()
    result = fn(*args, progress=clock, **kwargs)
    seconds = time.perf_counter() - clock.started
    return seconds, result, clock.phases(seconds)


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder beside the cache (same disk as the CSV), removed afterwards."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=CACHE_DIR))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def postgres_database(prefix: str = "crispml_bench", admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A fresh PostgreSQL database created with CREATE DATABASE (on the server of `admin_url`) and dropped
    afterwards, even on Ctrl-C."""
    from sqlalchemy import create_engine, text

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def curated_chain(cml: Crispml, csv: Path) -> tuple[Dataset, Dataset]:
    """Ingest, prepare and curate (rf, frames 1-6) as the demo does; returns (raw, curated)."""
    raw = cml.ingest(SourceSpec(path=str(csv)), name="ccf", slices=12)
    prepared = cml.prepare(raw.id)
    curated = cml.curate(prepared.id, algorithm="rf", frames="1-6")
    return raw, curated


def write_result(name: str, payload: dict[str, Any], out_dir: Path = RESULTS_DIR) -> Path:
    """Write `<out_dir>/<name>.json` atomically (through a .tmp file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    os.replace(temporary, path)
    return path


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
