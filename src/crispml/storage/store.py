"""The storage facade services use: transactions over the database, and typed artifact I/O."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Engine

from crispml.storage import model_codec
from crispml.storage.artifacts import ArtifactStore
from crispml.storage.repositories import Repository

DATASETS = "datasets"
MODELS = "models"
PARQUET = ".parquet"


class Store:
    def __init__(self, engine: Engine, artifacts: ArtifactStore) -> None:
        self.engine = engine
        self.artifacts = artifacts
        self._models: dict[str, Any] = {}
        self._models_lock = threading.Lock()

    @contextmanager
    def transaction(self) -> Iterator[Repository]:
        """One unit of work: commits when the block ends, rolls back everything if it raises."""
        with self.engine.begin() as connection:
            yield Repository(connection)

    # -- datasets -------------------------------------------------------------------------------
    def write_frame(self, frame: pd.DataFrame) -> str:
        """Store a dataset's rows as Parquet under their sha256; returns the sha256."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        sha, _ = self.artifacts.write(DATASETS, PARQUET, lambda path: pq.write_table(table, path))
        return sha

    def read_frame(self, sha256: str, columns: list[str] | None = None) -> pd.DataFrame:
        path = self.artifacts.verified_path(DATASETS, sha256, PARQUET)
        return pq.read_table(path, columns=columns).to_pandas()

    # -- models ---------------------------------------------------------------------------------
    def write_model(self, model: Any) -> tuple[str, str]:
        """Store a fitted model in a safe format; returns (sha256, format)."""
        data, artifact_format = model_codec.encode(model)
        sha, _ = self.artifacts.put_bytes(MODELS, model_codec.SUFFIX[artifact_format], data)
        return sha, artifact_format

    def read_model(self, sha256: str, artifact_format: str) -> Any:
        """Load (once per process) a model whose bytes hash to `sha256`."""
        with self._models_lock:
            cached = self._models.get(sha256)
            if cached is None:
                data = self.artifacts.get_bytes(MODELS, sha256, model_codec.SUFFIX[artifact_format])
                cached = model_codec.decode(data, artifact_format)
                self._models[sha256] = cached
            return cached

    def discard(self, kind: str, sha256: str) -> None:
        """Remove an artifact a failed call wrote, unless some committed row references the same bytes."""
        with self.transaction() as repo:
            if sha256 in repo.referenced_artifacts():
                return
        suffixes = [PARQUET] if kind == DATASETS else list(model_codec.SUFFIX.values())
        for suffix in suffixes:
            self.artifacts.remove(kind, sha256, suffix)

    def sweep(self) -> int:
        """Remove temporaries of dead writers and old unreferenced artifacts; returns how many."""
        with self.transaction() as repo:
            referenced = repo.referenced_artifacts()
        return len(self.artifacts.sweep(referenced))
