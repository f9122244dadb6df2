"""Read raw data from files (CSV, zipped CSV, Parquet) or SQL databases into a DataFrame.

Databases are read only through sources an admin registered (see `crispml.storage.sql_sources`).
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from crispml.domain import DataSource, SourceKind, SourceSpec
from crispml.errors import Forbidden, InvalidInput, NotFound
from crispml.storage import sql_sources
from crispml.storage.artifacts import sha256_file
from crispml.storage.bounded_read import ReadLimits, check_parquet, check_rows, read_gzip_csv, read_zip

DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class RawData:
    frame: pd.DataFrame
    source: str
    source_sha256: str


def read_source(
    spec: SourceSpec,
    text_columns: tuple[str, ...] = (),
    *,
    registered: DataSource | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    limits: ReadLimits | None = None,
) -> RawData:
    """Load the whole source; raise InvalidInput, NotFound or Unavailable naming what is wrong with it,
    TooLarge when a file expands beyond `limits` (checked while it streams in).

    A spec naming a source (`spec.source`) needs that source's registration (`registered`); a bare path
    is a file this process may read (adapters that serve others check it first: `inside_root`).
    `text_columns` (record ids) are read from CSV as text, so an id like '12e45' stays an id.
    """
    if spec.source is None:
        if spec.table or spec.query:
            raise InvalidInput("a table or a query is read from a registered source: name it", field="source")
        if not spec.path:
            raise InvalidInput("name a source: a file path, or a registered source and a table, query or path",
                               field="source")  # fmt: skip
        return _read_file(Path(spec.path), text_columns, limits or ReadLimits())
    for text in (spec.table, spec.query, spec.path):
        _check_encodable(text)
    if registered is None or registered.name != spec.source:
        raise NotFound(f"source {spec.source!r} is not registered")
    if registered.kind is SourceKind.FILES:
        if spec.table or spec.query or not spec.path:
            raise InvalidInput(f"source {spec.source!r} holds files: name a path inside it", field="source")
        folder = f"source {registered.name!r}'s folder"
        return _read_file(
            inside_root(Path(registered.location), spec.path, folder), text_columns, limits or ReadLimits()
        )
    if bool(spec.table) == bool(spec.query) or spec.path:
        raise InvalidInput(f"source {spec.source!r} is a database: give a table or a query (one of them)",
                           field="source")  # fmt: skip
    with sql_sources.reading(registered, timeout_s) as connection:
        if spec.table:
            frame = sql_sources.read_table(registered, connection, spec.table)
        else:
            frame = sql_sources.run_query(registered, connection, spec.query or "")
    if frame.empty:
        raise InvalidInput(f"{spec.describe()} returned no rows", field="source")
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
    return RawData(frame, spec.describe(), digest)


def _check_encodable(text: str | None) -> None:
    try:
        (text or "").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no database or file system takes it
        raise InvalidInput(
            "the source's table, query or path holds a character that is not text", field="source"
        ) from None


def inside_root(root: Path, relative: str, what: str = "its source's folder") -> Path:
    """`relative` resolved (symlinks followed) under `root`; Forbidden if it lands outside (`what` names root)."""
    if "\x00" in relative:  # the OS refuses such a path with a ValueError; it names no file
        raise InvalidInput("source path holds a NUL character", field="source.path")
    base = root.resolve()
    try:
        path = (base / relative).resolve()
    except (OSError, RuntimeError, ValueError):  # a symlink loop, a name too long
        raise InvalidInput(f"cannot use {relative[:200]!r} as a file name", field="source.path") from None
    if not path.is_relative_to(base):
        raise Forbidden(f"source path {relative[:200]!r} lies outside {what}", field="source.path")
    return path


def _read_file(path: Path, text_columns: tuple[str, ...], limits: ReadLimits) -> RawData:
    try:
        found = path.exists()
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte
        raise InvalidInput(f"cannot use {str(path)[:200]!r} as a file name: {exc}", field="source") from None
    if not found:
        raise NotFound(f"source file {path} does not exist")
    suffix = "".join(path.suffixes[-1:]).lower()
    options = pa_csv.ConvertOptions(column_types={c: pa.string() for c in text_columns})
    try:
        if suffix == ".parquet":
            check_parquet(path, limits)
            table = pq.read_table(path)
        elif suffix == ".zip":
            table = read_zip(path, options, limits)
        elif suffix == ".gz":
            table = read_gzip_csv(path, options, limits)
        else:
            table = pa_csv.read_csv(path, convert_options=options)
        check_rows(table, limits, path.name)
    except (pa.ArrowInvalid, pa.ArrowTypeError, zipfile.BadZipFile, OSError, EOFError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot parse {path.name}: {exc}", field="source") from exc
    if table.num_columns == 0 or table.num_rows == 0:
        raise InvalidInput(f"{path.name} holds no rows", field="source")
    return RawData(table.to_pandas(), str(path), sha256_file(path))
