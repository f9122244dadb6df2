"""The input log: what records scored online looked like, kept beside the ledger for drift monitoring.

Scoring hands each committed batch (model version, feature names, feature matrix, record ids, scores) to
`append`, which only adds it to an in-memory buffer: no file is touched on the request's path. The
buffer keeps each model version's batches as columns (`_Columns`), so a batch adds no object for the
garbage collector to track. A batch used to wait as a tuple, a tuple of its names and two lists, held
for seconds: they made a busy server collect every ~60 one-record requests, and every collection
traversed the waiting batches again until they were written. A daemon thread writes the buffer every
`flush_s` as Parquet, one file per model version and hour under
`root/<model version id>/<YYYY-MM-DDTHH>/`, each file written to a temporary name and renamed, so a
reader never sees half a file. A full buffer drops the batch and counts it (`dropped`); closing writes
what is left. Hours older than `retention_h` are deleted by the same thread; a data subject's erasure
removes their records (`erase`).

Dataset scoring is not logged: its inputs are the dataset, which is kept.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from crispml.storage.encryption import DecryptingReader, EncryptingWriter, KeyRing, is_encrypted, missing_key
from crispml.storage.parquet_files import write_parquet

log = logging.getLogger("crispml.input_log")

SCORED_AT = "scored_at"
RECORD_ID = "record_id"
SCORE = "score"
_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")
_HOUR_FORMAT = "%Y-%m-%dT%H"


class _Columns:
    """One model version's batches waiting for their write, as columns: appending one extends lists and
    arrays that exist already (the feature matrix is an array the garbage collector does not track)."""

    __slots__ = ("_given_names", "at", "features", "model_version_id", "names", "record_ids", "rows", "scores")

    def __init__(self, model_version_id: str, names: Sequence[str]) -> None:
        self.model_version_id = model_version_id
        self.names = tuple(names)
        self._given_names = names
        self.features: list[np.ndarray] = []
        self.record_ids: list[str] = []
        self.scores = array("d")
        self.at = array("d")
        """Each batch's time in seconds since the epoch (UTC): cheaper on the request's path than a datetime."""
        self.rows = array("q")
        """Each batch's records."""

    def holds(self, names: Sequence[str]) -> bool:
        """Whether batches with these feature names belong here (the model version's own: the same list)."""
        return names is self._given_names or tuple(names) == self.names

    def append(self, features: np.ndarray, record_ids: Sequence[str], scores: Sequence[float], at: float) -> None:
        self.features.append(features)
        self.record_ids += record_ids
        if type(scores) is list:
            self.scores.fromlist(scores)
        else:
            self.scores.extend(scores)
        self.at.append(at)
        self.rows.append(len(record_ids))

    def tables_by_hour(self) -> Iterator[tuple[int, pa.Table]]:
        """The records as a table per hour they were scored in (hours since the epoch, UTC)."""
        at = np.repeat(np.frombuffer(self.at), np.frombuffer(self.rows, dtype=np.int64))
        matrix = np.vstack(self.features).astype(np.float64, copy=False)
        columns: dict[str, pa.Array] = {
            SCORED_AT: pa.array(np.round(at * 1e6).astype(np.int64), type=pa.timestamp("us", tz="UTC")),
            RECORD_ID: pa.array(self.record_ids, type=pa.string()),
            SCORE: pa.array(np.frombuffer(self.scores), type=pa.float64()),
        }
        for i, name in enumerate(self.names):
            columns[name] = pa.array(matrix[:, i])
        table = pa.table(columns)
        hours = (at // 3600).astype(np.int64)
        found = np.unique(hours)
        if len(found) == 1:
            yield int(found[0]), table
            return
        for hour in found:
            yield int(hour), table.filter(pa.array(hours == hour))


class InputLog:
    """Online inputs per model version and hour, as Parquet (see the module's docstring)."""

    def __init__(
        self,
        root: Path,
        *,
        retention_h: float,
        flush_s: float = 5.0,
        buffer_rows: int = 200_000,
        on_drop: Callable[[int], None] | None = None,
        keys: KeyRing | None = None,
        on_prune: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.root = root
        self._keys = keys
        self._on_prune = on_prune
        """Told the hours (model version id/hour) retention deleted: the composition root audits them."""
        """With a key the files are encrypted like every artifact (the inputs are the subjects' data)."""
        self.retention = timedelta(hours=retention_h)
        self._flush_s = flush_s
        self._capacity = buffer_rows
        self._on_drop = on_drop
        self._pending: dict[str | tuple[str, tuple[str, ...]], _Columns] = {}
        """By model version (and, never seen, by model version and feature names when they differ)."""
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.dropped = 0
        """Records not kept because the buffer was full (or a write failed)."""

    # -- the request's side: memory only ------------------------------------------------------------
    def append(
        self,
        model_version_id: str,
        names: Sequence[str],
        features: np.ndarray,
        record_ids: Sequence[str],
        scores: Sequence[float],
        at: datetime | None = None,
    ) -> None:
        """Keep one scored batch for the next write; drops it (counted) when the buffer is full."""
        rows = len(record_ids)
        seconds = time.time() if at is None else at.timestamp()
        with self._lock:
            if self._pending_rows + rows > self._capacity:
                self.dropped += rows
                full = True
            else:
                self._columns(model_version_id, names).append(features, record_ids, scores, seconds)
                self._pending_rows += rows
                full = False
            start = self._thread is None and not self._stop.is_set()
            if start:
                self._thread = threading.Thread(target=self._run, name="crispml-input-log", daemon=True)
        if full and self._on_drop is not None:
            self._on_drop(rows)
        if start and self._thread is not None:
            self._thread.start()

    def _columns(self, model_version_id: str, names: Sequence[str]) -> _Columns:
        pending = self._pending
        key: str | tuple[str, tuple[str, ...]] = model_version_id
        found = pending.get(key)
        if found is not None and not found.holds(names):
            key = (model_version_id, tuple(names))
            found = pending.get(key)
        if found is None:
            found = pending[key] = _Columns(model_version_id, names)
        return found

    # -- the flusher's side -------------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self._flush_s):
            try:
                self.flush()
                self.prune()
            except Exception:  # a full disk must not end the thread: the next round tries again
                log.exception("writing the input log failed")

    def flush(self) -> int:
        """Write what the buffer holds; returns the records written."""
        with self._write_lock:
            with self._lock:
                pending, self._pending, self._pending_rows = self._pending, {}, 0
            written = 0
            for columns in pending.values():
                model_version_id = columns.model_version_id
                for hour, table in columns.tables_by_hour():
                    folder = (
                        self.root / model_version_id / datetime.fromtimestamp(hour * 3600, UTC).strftime(_HOUR_FORMAT)
                    )
                    try:
                        self._replace(folder, table)
                        written += table.num_rows
                    except OSError:
                        self.dropped += table.num_rows
                        if self._on_drop is not None:
                            self._on_drop(table.num_rows)
                        log.exception("could not write %d input log records of %s", table.num_rows, model_version_id)
            return written

    def _replace(self, folder: Path, table: pa.Table) -> None:
        """Write `table` as a new file of `folder`: under a temporary name, then renamed."""
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.parquet"
        temporary = folder / f".{name}.tmp"
        try:
            if self._keys is None:
                write_parquet(table, temporary)
            else:
                with temporary.open("wb") as handle:
                    writer = EncryptingWriter(handle, self._keys)
                    write_parquet(table, writer)
                    writer.close()
            os.replace(temporary, folder / name)
        finally:
            temporary.unlink(missing_ok=True)

    def prune(self, now: datetime | None = None) -> int:
        """Delete the hours that ended more than `retention_h` ago; returns the hours deleted."""
        cutoff = (now or datetime.now(UTC)) - self.retention
        deleted: list[str] = []
        with self._write_lock:
            for folder in self._hours():
                start = datetime.strptime(folder.name, _HOUR_FORMAT).replace(tzinfo=UTC)
                if start + timedelta(hours=1) <= cutoff:
                    shutil.rmtree(folder, ignore_errors=True)
                    deleted.append(f"{folder.parent.name}/{folder.name}")
        if deleted and self._on_prune is not None:
            self._on_prune(deleted)
        return len(deleted)

    def _hours(self, model_version_id: str | None = None) -> list[Path]:
        if not self.root.exists():
            return []
        pattern = f"{model_version_id}/*" if model_version_id else "*/*"
        return sorted(p for p in self.root.glob(pattern) if p.is_dir() and _HOUR.match(p.name))

    # -- reading ------------------------------------------------------------------------------------
    def read(self, model_version_id: str, since: datetime) -> pd.DataFrame:
        """The records of `model_version_id` scored at or after `since` (written ones), oldest first."""
        first = since.replace(minute=0, second=0, microsecond=0).strftime(_HOUR_FORMAT)
        files = [f for hour in self._hours(model_version_id) if hour.name >= first for f in hour.glob("*.parquet")]
        if not files:
            return pd.DataFrame(columns=[SCORED_AT, RECORD_ID, SCORE])
        frame = pd.concat([self._read(f).to_pandas() for f in files], ignore_index=True)
        frame = frame[frame[SCORED_AT] >= pd.Timestamp(since)]
        return frame.sort_values(SCORED_AT, kind="stable").reset_index(drop=True)

    def erase(self, record_ids: Collection[str]) -> int:
        """Remove these records from every file (after writing the buffer); returns the rows removed."""
        if not record_ids:
            return 0
        self.flush()
        wanted = pa.array(sorted({str(r) for r in record_ids}), type=pa.string())
        removed = 0
        with self._write_lock:
            for hour in self._hours():
                for path in hour.glob("*.parquet"):
                    table = self._read(path)
                    hit = pc.is_in(table.column(RECORD_ID), value_set=wanted)
                    count = pc.sum(hit).as_py() or 0
                    if not count:
                        continue
                    kept = table.filter(pc.invert(hit))
                    if kept.num_rows:
                        self._replace(hour, kept)
                    path.unlink()
                    removed += count
        return removed

    def _read(self, path: Path) -> pa.Table:
        if not is_encrypted(path):
            return pq.read_table(path)
        if self._keys is None:
            raise missing_key(path.name, path)
        with DecryptingReader(path, self._keys, path.name) as reader:
            return pq.read_table(pa.BufferReader(b"".join(reader.segments())))

    def hours(self, model_version_id: str) -> list[str]:
        """The hours (YYYY-MM-DDTHH, UTC) of `model_version_id` the log holds."""
        return [p.name for p in self._hours(model_version_id)]

    def close(self) -> None:
        """Stop the flusher and write what is left."""
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
        self.flush()
