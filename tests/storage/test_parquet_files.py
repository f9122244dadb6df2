"""Parquet as crispml writes it: plain pages for measurements, dictionaries where values repeat."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from crispml.storage.parquet_files import write_parquet


def test_floats_are_written_plain_and_the_rest_with_dictionaries(tmp_path: Path) -> None:
    table = pa.table({"V1": [0.5, 1.5, 0.5], "merchant": ["a", "b", "a"], "frame": [1, 1, 2], "Class": [0, 1, 0]})
    path = tmp_path / "rows.parquet"
    write_parquet(table, path)
    assert pq.read_table(path).equals(table)
    group = pq.ParquetFile(path).metadata.row_group(0)
    encodings = {group.column(i).path_in_schema: group.column(i).encodings for i in range(group.num_columns)}
    assert "RLE_DICTIONARY" not in encodings["V1"]
    assert all("RLE_DICTIONARY" in encodings[name] for name in ("merchant", "frame", "Class"))
