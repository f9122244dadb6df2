"""Whole tables sent to be scored: an Arrow IPC stream, Parquet or CSV body read into one Arrow table."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from crispml.domain import RECORD_ID
from crispml.errors import InvalidInput
from crispml.score_stream import ARROW_STREAM

PARQUET = "application/vnd.apache.parquet"
CSV = "text/csv"
TABLE_MEDIA_TYPES: dict[str, str] = {
    ARROW_STREAM: "Arrow IPC stream",
    PARQUET: "Parquet",
    "application/x-parquet": "Parquet",
    CSV: "CSV",
}
"""Media types a score request may carry a table in, and the format's name."""


def read_table_body(data: bytes, media_type: str) -> pa.Table:
    """The table a request body holds, read as its media type says; InvalidInput names what is wrong.

    A CSV's `record_id` column is read as text, as a CSV file scored by path is.
    """
    kind = TABLE_MEDIA_TYPES.get(media_type)
    if kind is None:
        raise InvalidInput(f"a table is sent as one of {', '.join(TABLE_MEDIA_TYPES)}", field="content-type")
    if not data:
        raise InvalidInput(f"the {kind} body is empty: there are no records to score", field="body")
    buffer = pa.BufferReader(data)
    try:
        if kind == "Arrow IPC stream":
            table = pa.ipc.open_stream(buffer).read_all()
        elif kind == "Parquet":
            table = pq.read_table(buffer)
        else:
            options = pa_csv.ConvertOptions(column_types={RECORD_ID: pa.string()})
            table = pa_csv.read_csv(buffer, convert_options=options)
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInput(f"the body is not a readable {kind}: {reason}", field="body") from None
    names = table.column_names
    twice = next((n for i, n in enumerate(names) if n in names[:i]), None)
    if twice is not None:
        raise InvalidInput(f"the table holds column {twice!r} more than once", field=twice)
    if table.num_rows == 0:
        raise InvalidInput(f"the {kind} table holds no rows: there are no records to score", field="body")
    return table
