"""Benchmark 1: `cml.ingest` of the synthetic CSV beside a bare pyarrow read_csv + write_table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

import crispml
from bench.common import goal, median, ratio, scratch, synthetic_csv, timed, timed_phases
from crispml.domain import SourceSpec

GOAL_RATIO = 2.0


def bare_ingest(csv: Path, out: Path) -> int:
    """The floor: parse the CSV with pyarrow and write it back as one Parquet file."""
    table = pa_csv.read_csv(csv)
    pq.write_table(table, out)
    return int(table.num_rows)


def run(rows: int, repeats: int = 3) -> dict[str, Any]:
    """Median of `repeats` interleaved runs of crispml and of the bare baseline."""
    csv = synthetic_csv(rows)
    bare_s: list[float] = []
    crispml_s: list[float] = []
    phases: list[dict[str, float]] = []
    with scratch("ingest-") as tmp, crispml.connect(home=tmp / "home", database_url=f"sqlite:///{tmp}/c.db") as cml:
        for i in range(repeats):
            seconds, _ = timed(bare_ingest, csv, tmp / f"bare-{i}.parquet")
            bare_s.append(seconds)
            seconds, dataset, split = timed_phases(cml.ingest, SourceSpec(path=str(csv)), slices=12)
            crispml_s.append(seconds)
            phases.append(split)
            assert dataset.rows == rows, (dataset.rows, rows)
    ours, floor = median(crispml_s), median(bare_s)
    r = ratio(ours, floor)
    return {
        "name": "ingest",
        "rows": rows,
        "csv_bytes": csv.stat().st_size,
        "call": "cml.ingest(SourceSpec(path=csv), slices=12)",
        "baseline": "pyarrow.csv.read_csv + pyarrow.parquet.write_table",
        "timings_s": {"crispml": crispml_s, "bare": bare_s},
        "phases_s": phases,
        "medians_s": {"crispml": ours, "bare": floor},
        "rows_per_s": {"crispml": round(rows / ours), "bare": round(rows / floor)},
        "ratios": {"crispml_over_bare": r},
        "goals": [goal("crispml/bare wall time", r, GOAL_RATIO)],
        "headline": [
            {"benchmark": "ingest", "crispml_s": ours, "bare_s": floor, "rows_per_s": round(rows / ours), "ratio": r}
        ],
    }
