"""Write the synthetic credit-card data set to CSV, zipped CSV or Parquet, atomically."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from crispml.errors import InvalidInput
from crispml.steps.synthetic import Drift, synthesize
from crispml.storage.parquet_files import write_parquet

FORMATS = (".csv", ".zip", ".parquet")


def write_synthetic(out: Path, rows: int, seed: int = 42, drift: Drift | None = None) -> Path:
    """Generate `rows` rows (drifted as `drift` says) and write them to `out` (format by suffix);
    nothing is left on failure."""
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise InvalidInput(f"cannot write {out.name}: use a .csv, .zip or .parquet file name", field="out")
    if rows < 12:
        raise InvalidInput("rows must be at least 12 (one per time frame)", field="rows")
    if drift is not None and rows < drift.frames:
        raise InvalidInput(f"rows must be at least {drift.frames} (one per time frame)", field="rows")
    table = pa.Table.from_pandas(synthesize(rows, seed, drift), preserve_index=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if suffix == ".parquet":
            write_parquet(table, temporary)
        elif suffix == ".csv":
            pa_csv.write_csv(table, temporary)
        else:
            with (
                zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive,
                archive.open("creditcard.csv", "w", force_zip64=True) as member,
            ):
                pa_csv.write_csv(table, member)
        os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)
    return out
