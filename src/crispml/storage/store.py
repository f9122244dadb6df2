"""The storage facade services use: transactions over the database, and typed artifact I/O."""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from crispml.domain import FRAME
from crispml.errors import Erased, NotFound
from crispml.faults import crash_point
from crispml.storage.artifacts import ArtifactStore, EncryptionSweep, Staged
from crispml.storage.database import READ_ONLY
from crispml.storage.group_commit import GroupCommit, Work
from crispml.storage.jobs import JobRepository
from crispml.storage.parquet_files import write_parquet
from crispml.storage.unit_of_work import UnitOfWork
from crispml.storage.wal_checkpointer import wal_checkpointer
from crispml.storage.write_queue import write_queue

DATASETS = "datasets"
MODELS = "models"
PARQUET = ".parquet"
ONNX = ".onnx"
PROFILE = ".profile.json"


class Store:
    """The storage services use (see `crispml.ports.Storage`): units of work, artifacts, the group commit."""

    def __init__(
        self, engine: Engine, artifacts: ArtifactStore, user: str = "crispml", environment: str | None = None
    ) -> None:
        """`user`: whom audit events are attributed to when no principal is acting (the service's user);
        `environment`: the deployment's (dev, qa, prod), recorded with every audit event."""
        self.engine = engine
        self.user = user
        self.environment = environment
        self.artifacts = artifacts
        self._writers = write_queue(engine)
        self._checkpointer = wal_checkpointer(engine)
        self.group_commit = GroupCommit(self.transaction)
        """Small writes that may share a transaction with concurrent ones (see `GroupCommit.run`)."""
        self.registry_version = 0
        """Bumped after this process commits a change to models or aliases (see `registry_changed`)."""

    def registry_changed(self) -> None:
        """Models or aliases changed (and committed) in this process: cached resolutions are stale."""
        self.registry_version += 1

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """One unit of work: commits when the block ends, rolls back everything if it raises."""
        with self._writers, self.engine.begin() as connection:
            yield UnitOfWork(connection, self.user, self.environment)
        if self._checkpointer is not None:
            self._checkpointer.written()

    @contextmanager
    def reading(self) -> Iterator[UnitOfWork]:
        """A unit of work that only reads: on SQLite it neither takes nor waits for the write lock."""
        with self.engine.connect() as connection:
            connection.execution_options(**{READ_ONLY: True})
            with connection.begin():
                yield UnitOfWork(connection, self.user, self.environment)

    # -- group commit ---------------------------------------------------------------------------
    def write_alone(self, work: Work) -> None:
        """Run `work(unit_of_work)` in a transaction of its own (a large batch gains nothing from a group)."""
        with self.transaction() as uow:
            work(uow)

    def write_grouped(self, work: Work) -> None:
        """Run `work(unit_of_work)` with the next group commit; returns once it committed (see `GroupCommit.run`)."""
        self.group_commit.run(work)

    def submit_grouped(self, work: Work) -> Future[None]:
        """`write_grouped` without waiting: the future completes once the group committed."""
        return self.group_commit.submit(work)

    def write_soon(self, work: Work) -> None:
        """Run `work` with a later group; nobody waits for it, and a failure is logged."""
        self.group_commit.background(work)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything handed over by `write_soon` is written; False on timeout."""
        return self.group_commit.flush(timeout)

    # -- datasets -------------------------------------------------------------------------------
    def stage_frame(self, frame: pd.DataFrame) -> Staged:
        """Write a dataset's rows as Parquet; promote it after its row is committed."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return self.artifacts.stage(DATASETS, PARQUET, lambda path: write_parquet(table, path))

    def read_frame(
        self, sha256: str, columns: list[str] | None = None, frames: Sequence[int] | None = None
    ) -> pd.DataFrame:
        """A dataset's rows (optionally only some columns, only some frames) after checking their sha256."""
        return self.read_table(sha256, columns, frames).to_pandas()

    def read_table(
        self, sha256: str, columns: list[str] | None = None, frames: Sequence[int] | None = None
    ) -> pa.Table:
        """`read_frame` as an Arrow table, for callers that want columns as arrays."""
        filters = [(FRAME, "in", list(frames))] if frames is not None else None
        try:
            with self.artifacts.open_verified(DATASETS, sha256, PARQUET) as source:
                return pq.read_table(source, columns=columns, filters=filters)
        except NotFound:
            self._raise_if_removed(sha256)
            raise

    def _raise_if_removed(self, sha256: str) -> None:
        """A missing file of a version whose rows were deleted on purpose: say so, not 'missing'."""
        with self.reading() as uow:
            removed = uow.datasets.removed_version(sha256)
        if removed is not None:
            raise Erased(
                f"dataset {removed.name}/{removed.version} was {removed.removed} on {removed.removed_at:%Y-%m-%d} "
                f"by {removed.removed_by}: its rows are deleted, its metadata and lineage kept"
            )

    def delete_frames(self, sha256s: Collection[str]) -> int:
        """Delete dataset files no live version names any more (call after the commit that removed them)."""
        with self.reading() as uow:
            live = uow.datasets.artifacts()
        deleted = 0
        for sha256 in set(sha256s) - live:
            path = self.artifacts.path(DATASETS, sha256, PARQUET)
            if path.exists():
                path.unlink()
                deleted += 1
        return deleted

    # -- models ---------------------------------------------------------------------------------
    def stage_model(self, data: bytes, suffix: str) -> Staged:
        """Stage a serialised model (bytes in a safe format, see `crispml.steps.model_codec`)."""
        return self.artifacts.stage_bytes(MODELS, suffix, data)

    def stage_twin(self, onnx: bytes) -> Staged:
        """Stage a model's ONNX twin (see `crispml.steps.fast_path`); it is data, never code."""
        return self.artifacts.stage_bytes(MODELS, ONNX, onnx)

    def stage_profile(self, data: bytes) -> Staged:
        """Stage a model version's reference profile (JSON, see `crispml.steps.drift`)."""
        return self.artifacts.stage_bytes(MODELS, PROFILE, data)

    def profile_bytes(self, sha256: str) -> bytes:
        """A stored reference profile's bytes, after checking they hash to `sha256`."""
        return self.artifacts.get_bytes(MODELS, sha256, PROFILE)

    def model_bytes(self, sha256: str, suffix: str) -> bytes:
        """A stored model's (or twin's, suffix '.onnx') bytes, after checking they hash to `sha256`."""
        return self.artifacts.get_bytes(MODELS, sha256, suffix)

    def model_stamp(self, sha256: str, suffix: str) -> tuple[int, int, int] | None:
        """A stored model file's (inode, size, mtime), None if it is missing: one stat, no read."""
        return self.artifacts.stamp(MODELS, sha256, suffix)

    # -- two-phase writes -----------------------------------------------------------------------
    @contextmanager
    def committing(self, staged: Staged, *more: Staged) -> Iterator[UnitOfWork]:
        """A transaction whose commit makes the staged files permanent; if it fails they go too."""
        try:
            with self.transaction() as repo:
                yield repo
                crash_point(f"{staged.kind}.before_commit")
        except BaseException:
            for each in (staged, *more):
                self.artifacts.drop(each)
            raise
        crash_point(f"{staged.kind}.before_promote")
        for each in (staged, *more):
            self.artifacts.promote(each)

    def encrypt_at_rest(self) -> EncryptionSweep:
        """Encrypt every artifact file with the current key (see `ArtifactStore.encrypt_at_rest`)."""
        return self.artifacts.encrypt_at_rest()

    def check_writable(self) -> None:
        """Raise `OSError` unless the artifact folder takes (and gives up) a file."""
        self.artifacts.root.mkdir(parents=True, exist_ok=True)
        # One probe per thread: the server's threads answer /readyz at once, and one's unlink must not
        # pull the file from under another's (a 503 for a healthy store).
        probe = self.artifacts.root / f".ready-{os.getpid()}-{threading.get_ident()}"
        probe.write_bytes(b"ok")
        probe.unlink()

    def close(self) -> None:
        """Stop background work on the database; the engine is the caller's to dispose of."""
        if self._checkpointer is not None:
            self._checkpointer.close()

    def recover(self) -> int:
        """Finish or undo writes of dead processes and remove old orphans; returns files removed."""
        with self.reading() as uow:
            referenced = uow.referenced_artifacts()
        return len(self.artifacts.recover(referenced))

    @contextmanager
    def jobs(self) -> Iterator[JobRepository]:
        """A transaction over the jobs table."""
        with self.engine.begin() as connection:
            yield JobRepository(connection)
