"""Reading compressed sources with a cap on what they expand to: zip and gzip CSV, and Parquet.

A 150 KB zip can expand to gigabytes, so the caps are checked while the bytes stream in (decompressed
bytes counted as they are read, rows counted batch by batch), never after the table is built. A zip
whose entries name absolute paths or `..` (zip slip) is refused whole, although nothing is extracted.
"""

from __future__ import annotations

import gzip
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from crispml.errors import InvalidInput, TooLarge

GIB = 1 << 30


@dataclass(frozen=True)
class ReadLimits:
    """The most a source may expand to: decompressed bytes and rows (settings CRISPML_MAX_SOURCE_BYTES
    and CRISPML_MAX_SOURCE_ROWS)."""

    max_bytes: int = 2 * GIB
    max_rows: int = 50_000_000


class _Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class _Counted:
    """A binary file whose reads raise TooLarge once more than `limit` bytes came out of it."""

    def __init__(self, raw: _Readable, limit: int, name: str) -> None:
        self.raw, self.limit, self.name, self.seen = raw, limit, name, 0
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        # Never more than one byte past the cap is asked of the decompressor.
        wanted = self.limit + 1 - self.seen if size is None or size < 0 else min(size, self.limit + 1 - self.seen)
        chunk = self.raw.read(max(wanted, 1))
        self.seen += len(chunk)
        if self.seen > self.limit:
            raise TooLarge(f"{self.name} expands to more than {self.limit} bytes (the source limit)", field="source")
        return chunk

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


def read_zip(path: Path, options: pa_csv.ConvertOptions, limits: ReadLimits) -> pa.Table:
    """The archive's creditcard.csv (else its first .csv), within `limits`."""
    with zipfile.ZipFile(path) as archive:
        for entry in archive.namelist():
            parts = PurePosixPath(entry.replace("\\", "/")).parts
            if entry.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise InvalidInput(f"{path.name} holds an entry named {entry!r} outside the archive", field="source")
        members = [m for m in archive.namelist() if m.lower().endswith(".csv") and not m.startswith("__MACOSX")]
        if not members:
            raise InvalidInput(f"{path.name} holds no .csv file", field="source")
        preferred = [m for m in members if Path(m).name == "creditcard.csv"]
        member = archive.getinfo((preferred or members)[0])
        what = f"{path.name}:{member.filename}"
        if member.file_size > limits.max_bytes:  # the header says so already; the count below is what binds
            raise TooLarge(f"{what} expands to {member.file_size} bytes; the source limit is {limits.max_bytes}",
                           field="source")  # fmt: skip
        with archive.open(member) as handle:
            return _read_csv_stream(_Counted(handle, limits.max_bytes, what), options, limits, what)


def read_gzip_csv(path: Path, options: pa_csv.ConvertOptions, limits: ReadLimits) -> pa.Table:
    """A gzip-compressed CSV file, within `limits`."""
    with gzip.open(path, "rb") as handle:
        return _read_csv_stream(_Counted(handle, limits.max_bytes, path.name), options, limits, path.name)


def check_parquet(path: Path, limits: ReadLimits) -> None:
    """Refuse a Parquet file whose own metadata says it holds too many rows or bytes, before reading it."""
    metadata = pq.ParquetFile(path).metadata
    size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    if metadata.num_rows > limits.max_rows:
        raise TooLarge(f"{path.name} holds {metadata.num_rows} rows; the source limit is {limits.max_rows}",
                       field="source")  # fmt: skip
    if size > limits.max_bytes:
        raise TooLarge(f"{path.name} expands to {size} bytes; the source limit is {limits.max_bytes}", field="source")


def check_rows(table: pa.Table, limits: ReadLimits, name: str) -> None:
    """Refuse a table read whole (a plain file, bounded by its own size) with more rows than the limit."""
    if table.num_rows > limits.max_rows:
        raise TooLarge(f"{name} holds {table.num_rows} rows; the source limit is {limits.max_rows}", field="source")


def _read_csv_stream(handle: Any, options: pa_csv.ConvertOptions, limits: ReadLimits, name: str) -> pa.Table:
    reader = pa_csv.open_csv(handle, convert_options=options)
    batches, rows = [], 0
    for batch in reader:
        rows += batch.num_rows
        if rows > limits.max_rows:
            raise TooLarge(f"{name} holds more than {limits.max_rows} rows (the source limit)", field="source")
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=reader.schema)
