"""Read raw data from files (CSV, zipped CSV, Parquet) or SQL databases into a DataFrame.

SQL table and column names are checked against the source database's own catalogue before any query is
built; a free query runs inside a read-only transaction that is rolled back.
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
from sqlalchemy import MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.exc import SQLAlchemyError

from crispml.domain import SourceSpec, redact_url
from crispml.errors import InvalidInput, NotFound
from crispml.storage.artifacts import sha256_file
from crispml.storage.bounded_read import ReadLimits, check_parquet, check_rows, read_gzip_csv, read_zip


@dataclass(frozen=True)
class RawData:
    frame: pd.DataFrame
    source: str
    source_sha256: str


def read_source(spec: SourceSpec, text_columns: tuple[str, ...] = (), limits: ReadLimits | None = None) -> RawData:
    """Load the whole source; raise InvalidInput or NotFound naming what is wrong with it, TooLarge when
    a file expands beyond `limits` (checked while it streams in).

    `text_columns` (record ids) are read from CSV as text, so an id like '12e45' stays an id.
    """
    if spec.path:
        return _read_file(Path(spec.path), text_columns, limits or ReadLimits())
    if spec.url and (spec.table or spec.query):
        return _read_sql(spec)
    raise InvalidInput("name a source: a file path, or a database URL with --table or --query", field="source")


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


def _read_sql(spec: SourceSpec) -> RawData:
    assert spec.url is not None
    try:
        engine = create_engine(spec.url)
    except (SQLAlchemyError, ValueError) as exc:
        raise InvalidInput(f"cannot use database URL {redact_url(spec.url)}: {exc}", field="url") from exc
    try:
        with engine.connect() as connection:
            if spec.table:
                schema, _, name = spec.table.rpartition(".")
                known = inspect(connection).get_table_names(schema=schema or None)
                if name not in known:
                    raise NotFound(f"table {spec.table!r} does not exist in {redact_url(spec.url)}")
                # Reflection builds the statement from the catalogue's own names, not from user text.
                table = Table(name, MetaData(), autoload_with=connection, schema=schema or None)
                frame = pd.read_sql(select(table), connection)
            else:
                transaction = connection.begin()
                try:
                    if connection.dialect.name == "postgresql":
                        connection.execute(text("SET TRANSACTION READ ONLY"))
                    frame = pd.read_sql(text(spec.query or ""), connection)
                finally:
                    transaction.rollback()
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        # pandas wraps a failing query in its own DatabaseError; either way the caller gets one line
        # naming the source (password redacted) and the database's own reason, never a traceback.
        raise InvalidInput(f"cannot read {spec.describe()}: {_reason(exc)}", field="source") from exc
    finally:
        engine.dispose()
    if frame.empty:
        raise InvalidInput(f"{spec.describe()} returned no rows", field="source")
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
    return RawData(frame, spec.describe(), digest)


def _reason(exc: Exception) -> str:
    """The database driver's first line of complaint, without SQLAlchemy's statement and links."""
    cause = exc.__cause__ if isinstance(exc, pd.errors.DatabaseError) and exc.__cause__ else exc
    original = getattr(cause, "orig", None) or cause
    lines = str(original).strip().splitlines()
    return lines[0] if lines else type(original).__name__
