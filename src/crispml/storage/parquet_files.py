"""Parquet as crispml writes it: dictionary pages only for columns whose values may repeat.

pyarrow tries a dictionary for every column by default. Floating-point measurements (the fraud set's
V1..V28, Amount, Time) rarely repeat, so each column builds a dictionary, overflows it and falls back
to plain pages: on the reference's 284,807 rows that is two thirds of the write (0.28 s against 0.09 s)
for a file 10 % larger. Text, integers and booleans keep their dictionaries, where they pay.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns of `schema` worth a dictionary: every one but the floating-point ones."""
    return [field.name for field in schema if not pa.types.is_floating(field.type)]


def write_parquet(table: pa.Table, where: Any) -> None:
    """Write `table` to `where` (a path or a writable file object) as one Parquet file."""
    pq.write_table(table, where, use_dictionary=dictionary_columns(table.schema))
