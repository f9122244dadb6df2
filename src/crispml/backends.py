"""What the CLI talks to: the local store, or a crispml server through the REST client.

Both backends offer the same calls with the same parameters and answer plain JSON-ready dicts, so
every command renders local and `--remote` results the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from crispml.client import Client
from crispml.container import Container
from crispml.domain import SourceSpec
from crispml.jsonable import jsonable
from crispml.services.base import Progress, no_progress

J = dict[str, Any]


class Backend(Protocol):
    def ingest(self, source: SourceSpec, progress: Progress = no_progress, **options: Any) -> J: ...
    def prepare(self, ref: str, *, missing: str, name: str | None, progress: Progress = no_progress) -> J: ...
    def curate(self, ref: str, *, algorithm: str, frames: str | None, name: str | None,
               progress: Progress = no_progress) -> J: ...  # fmt: skip
    def train(self, ref: str, progress: Progress = no_progress, **options: Any) -> J: ...
    def report(self, model: str, *, frames: str | None) -> J: ...
    def persist(self, model: str, *, alias: str) -> J: ...
    def score(self, model: str, *, dataset: str | None, frames: str | None, file: str | None,
              idempotency_key: str | None, progress: Progress = no_progress) -> J: ...  # fmt: skip
    def label(self, *, file: str | None, dataset: str | None, frames: str | None, id_column: str,
              label_column: str) -> J: ...  # fmt: skip
    def verify(self, model: str, *, frames: str | None) -> J: ...
    def lineage(self, ref: str) -> list[J]: ...
    def datasets(self) -> list[J]: ...
    def models(self, name: str | None) -> list[J]: ...
    def perf(self, method: str | None, limit: int) -> J: ...


def _score_body(result: Any) -> J:
    return {"batch": jsonable(result.batch), "replayed": result.replayed, "scores": result.records.as_dicts()}


class LocalBackend:
    """The store on this machine (CRISPML_HOME, CRISPML_DATABASE_URL)."""

    def __init__(self, container: Container) -> None:
        self.c = container

    def ingest(self, source: SourceSpec, progress: Progress = no_progress, **options: Any) -> J:
        return dict(jsonable(self.c.ingest(source, progress=progress, **options)))

    def prepare(self, ref: str, *, missing: str, name: str | None, progress: Progress = no_progress) -> J:
        return dict(jsonable(self.c.prepare(ref, missing=missing, name=name, progress=progress)))

    def curate(self, ref: str, *, algorithm: str, frames: str | None, name: str | None,
               progress: Progress = no_progress) -> J:  # fmt: skip
        return dict(jsonable(self.c.curate(ref, algorithm=algorithm, frames=frames, name=name, progress=progress)))

    def train(self, ref: str, progress: Progress = no_progress, **options: Any) -> J:
        return dict(jsonable(self.c.train(ref, progress=progress, **options)))

    def report(self, model: str, *, frames: str | None) -> J:
        return dict(jsonable(self.c.report(model, frames=frames)))

    def persist(self, model: str, *, alias: str) -> J:
        return dict(jsonable(self.c.persist(model, alias=alias)))

    def score(self, model: str, *, dataset: str | None, frames: str | None, file: str | None,
              idempotency_key: str | None, progress: Progress = no_progress) -> J:  # fmt: skip
        result = self.c.score(model, dataset=dataset, frames=frames, file=file, idempotency_key=idempotency_key,
                              progress=progress)  # fmt: skip
        return _score_body(result)

    def label(self, *, file: str | None, dataset: str | None, frames: str | None, id_column: str,
              label_column: str) -> J:  # fmt: skip
        report = self.c.label(file=file, dataset=dataset, frames=frames, id_column=id_column, label_column=label_column)
        return dict(jsonable(report))

    def verify(self, model: str, *, frames: str | None) -> J:
        return dict(jsonable(self.c.verify(model, frames=frames)))

    def lineage(self, ref: str) -> list[J]:
        return list(jsonable(self.c.lineage(ref)))

    def datasets(self) -> list[J]:
        return list(jsonable(self.c.lifecycle.list_datasets()))

    def models(self, name: str | None) -> list[J]:
        return list(jsonable(self.c.lifecycle.list_models(name)))

    def perf(self, method: str | None, limit: int) -> J:
        records, summaries = self.c.operations.perf(method, limit)
        return {"summary": jsonable(summaries), "records": jsonable(records)}


class RemoteBackend:
    """A crispml server; files named on the command line are read here and sent over HTTP."""

    def __init__(self, client: Client) -> None:
        self.api = client

    def ingest(self, source: SourceSpec, progress: Progress = no_progress, **options: Any) -> J:
        if source.path and Path(source.path).is_file():
            return dict(self.api.upload(source.path, **options))
        return dict(self.api.ingest(source.path, url=source.url, table=source.table, query=source.query, **options))

    def prepare(self, ref: str, *, missing: str, name: str | None, progress: Progress = no_progress) -> J:
        return dict(self.api.prepare(ref, missing=missing, name=name))

    def curate(self, ref: str, *, algorithm: str, frames: str | None, name: str | None,
               progress: Progress = no_progress) -> J:  # fmt: skip
        return dict(self.api.curate(ref, algorithm=algorithm, frames=frames, name=name))

    def train(self, ref: str, progress: Progress = no_progress, **options: Any) -> J:
        return dict(self.api.train(ref, **options))

    def _version(self, model: str) -> tuple[str, int]:
        """(name, version) of 'fraud@champion', 'fraud/3' or 'fraud' (its newest version)."""
        if "@" in model:
            name, alias = model.split("@", 1)
            return name, int(self.api.alias(name, alias)["version"])
        name, _, version = model.partition("/")
        if version.isdigit():
            return name, int(version)
        return name, int(self.api.versions(name)["items"][-1]["version"])

    def report(self, model: str, *, frames: str | None) -> J:
        return dict(self.api.report(*self._version(model), frames=frames))

    def persist(self, model: str, *, alias: str) -> J:
        return dict(self.api.persist(*self._version(model), alias=alias))

    def score(self, model: str, *, dataset: str | None, frames: str | None, file: str | None,
              idempotency_key: str | None, progress: Progress = no_progress) -> J:  # fmt: skip
        name, version = self._version(model)
        if file is not None:
            records = _read_table(file).to_dict("records")
            answer = self.api.score(name, records=records, version=version, idempotency_key=idempotency_key)
            scores = answer["scores"]
        else:
            answer = self.api.score(name, dataset=dataset, frames=frames, version=version,
                                    idempotency_key=idempotency_key)  # fmt: skip
            scores = self.api.batch(answer["batch_id"], limit=100_000)["scores"]
        batch = {"id": answer["batch_id"], "model_ref": answer["model"], "rows": answer["rows"]}
        return {"batch": batch, "replayed": answer["replayed"], "scores": scores}

    def label(self, *, file: str | None, dataset: str | None, frames: str | None, id_column: str,
              label_column: str) -> J:  # fmt: skip
        if file is None:
            return dict(self.api.label(dataset=dataset, frames=frames))
        table = _read_table(file, text=(id_column,))
        labels = [{"record_id": str(r), "label": v} for r, v in zip(table[id_column], table[label_column], strict=True)]
        return dict(self.api.label(labels))

    def verify(self, model: str, *, frames: str | None) -> J:
        return dict(self.api.verify(model, frames=frames))

    def lineage(self, ref: str) -> list[J]:
        if ref.startswith("ds-"):
            return list(self.api.dataset(ref)["lineage"])
        name, version = self._version(ref)
        return list(self.api.lineage(name, version=version)["items"])

    def datasets(self) -> list[J]:
        return list(self.api.datasets(limit=1000)["items"])

    def models(self, name: str | None) -> list[J]:
        names = [name] if name else [m["name"] for m in self.api.models()["items"]]
        return [self.api.model(n, v["version"]) for n in names for v in self.api.versions(n)["items"]]

    def perf(self, method: str | None, limit: int) -> J:
        return dict(self.api.perf(method))


def _read_table(path: str, text: tuple[str, ...] = ()) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={c: str for c in text})
