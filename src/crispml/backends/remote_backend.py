"""A crispml server as a backend: each call is the REST client's, long ones followed as jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from crispml.backends.plain import JOB_POLL_S, J
from crispml.client import Client
from crispml.client.wire import job_result
from crispml.contract.pipeline import Pipeline
from crispml.contract.requests import ImageFormat
from crispml.domain import RECORD_ID, SourceSpec
from crispml.domain.refs import ModelRef
from crispml.errors import InvalidInput, NotFound
from crispml.services.base import Progress, no_progress

Announce = Callable[[str], None]

SCORE_PAGE_ROWS = 100_000  # the server's largest page of a score batch


class RemoteBackend:
    """A crispml server; files named on the command line are read here and sent over HTTP.

    A long call starts a job, announces its id, reports the job's phase and progress while it runs, and
    cancels it on the server when the user presses Ctrl-C (KeyboardInterrupt is raised again after).
    """

    def __init__(self, client: Client, announce: Announce = lambda _line: None,
                 page_rows: int = SCORE_PAGE_ROWS) -> None:  # fmt: skip
        self.api = client
        self.announce = announce
        self.page_rows = page_rows

    def _follow(self, job: J, progress: Progress) -> Any:
        """Poll a job until it ends and hand back its result; cancel it on Ctrl-C."""
        self.announce(f"job {job['id']} ({job['kind']}) started on the server")
        try:
            while job["status"] in ("queued", "running"):
                progress(job.get("phase") or job["status"], float(job.get("progress") or 0.0))
                job = self.api.job(job["id"], wait=True, timeout=JOB_POLL_S)
        except KeyboardInterrupt:
            self.api.cancel_job(job["id"])
            self.announce(f"cancelled job {job['id']}")
            raise
        progress(job.get("phase") or job["status"], 1.0 if job["status"] == "succeeded" else job["progress"])
        return job_result(job)

    def ingest(self, source: SourceSpec, progress: Progress = no_progress, **options: Any) -> J:
        if source.source is None and source.path and Path(source.path).is_file():
            return dict(self._follow(self.api.upload(source.path, **options), progress))
        job = self.api.ingest(source.path, source=source.source, table=source.table, query=source.query,
                              pool=source.pool, **options)  # fmt: skip
        return dict(self._follow(job, progress))

    def prepare(self, ref: str, *, missing: str, name: str | None, progress: Progress = no_progress) -> J:
        return dict(self.api.prepare(ref, missing=missing, name=name))

    def curate(self, ref: str, *, algorithm: str, frames: str | None, name: str | None,
               progress: Progress = no_progress) -> J:  # fmt: skip
        return dict(self.api.curate(ref, algorithm=algorithm, frames=frames, name=name))

    def train(self, ref: str, progress: Progress = no_progress, **options: Any) -> J:
        return dict(self._follow(self.api.train(ref, **options), progress))

    def _version(self, model: str) -> tuple[str, int]:
        """(name, version) of 'fraud@champion', 'fraud/3' or 'fraud' (its newest version)."""
        ref = ModelRef.parse(model)
        if ref.name is None:
            raise InvalidInput(f"name the model as name/3 or name@alias with --remote, not by id {model!r}",
                               field="model")  # fmt: skip
        name = ref.name
        if ref.alias is not None:
            return name, int(self.api.alias(name, ref.alias)["version"])
        if ref.version is not None:
            return name, ref.version
        versions = self._versions(name)
        if not versions:
            raise NotFound(f"model {name!r} has no versions")
        return name, int(versions[-1]["version"])

    def report(self, model: str, *, frames: str | None, threshold: float | None) -> J:
        return dict(self.api.report(*self._version(model), frames=frames, threshold=threshold))

    def report_page(self, model: str, *, frames: str | None, threshold: float | None) -> str:
        return str(self.api.report(*self._version(model), frames=frames, threshold=threshold, format="html"))

    def report_plot(self, model: str, plot: str, *, frames: str | None, threshold: float | None,
                    image_format: ImageFormat) -> bytes:  # fmt: skip
        name, version = self._version(model)
        return bytes(self.api.report_plot(name, version, plot, format=image_format, frames=frames, threshold=threshold))

    def persist(self, model: str, *, alias: str) -> J:
        return dict(self.api.persist(*self._version(model), alias=alias))

    def score(self, model: str, *, dataset: str | None, frames: str | None, file: str | None,
              idempotency_key: str | None, progress: Progress = no_progress) -> J:  # fmt: skip
        name, version = self._version(model)
        if file is not None:
            # Read by Arrow as the server reads a file (exact floats, record_id as text), sent as one Arrow
            # stream; the answer holds every score, and the batch is paged through should it not.
            import pyarrow as pa
            import pyarrow.csv as pa_csv
            import pyarrow.parquet as pq

            try:
                if file.endswith(".parquet"):
                    table = pq.read_table(file)
                else:
                    options = pa_csv.ConvertOptions(column_types={RECORD_ID: pa.string()})
                    table = pa_csv.read_csv(file, convert_options=options)
            except (OSError, pa.ArrowException) as exc:
                raise InvalidInput(f"cannot read {file}: {str(exc).strip().splitlines()[0]}", field="file") from None
            answer = self.api.score(name, table=table, version=version, idempotency_key=idempotency_key)
            scores = answer["scores"]
            if scores is None or len(scores) < answer["rows"]:
                scores = self._all_scores(answer["batch_id"], answer["rows"])
        else:
            job = self.api.score(name, dataset=dataset, frames=frames, version=version,
                                 idempotency_key=idempotency_key)  # fmt: skip
            answer = self._follow(job, progress)
            scores = self._all_scores(answer["batch_id"], answer["rows"])
        # The REST answer as it is; a dataset's batch comes with all its scores, fetched page by page.
        return {**answer, "scores": scores}

    def _all_scores(self, batch_id: str, rows: int) -> list[J]:
        """Every score of a batch, a page at a time."""
        scores: list[J] = []
        while len(scores) < rows:
            page = self.api.batch(batch_id, limit=self.page_rows, offset=len(scores))["scores"]
            if not page:
                break
            scores.extend(page)
        return scores

    def label(self, *, file: str | None, dataset: str | None, frames: str | None, id_column: str,
              label_column: str) -> J:  # fmt: skip
        if file is None:
            return dict(self.api.label(dataset=dataset, frames=frames))
        table = _read_table(file, text=(id_column,))
        labels = [{"record_id": None if pd.isna(r) else str(r), "label": None if pd.isna(v) else v}
                  for r, v in zip(table[id_column], table[label_column], strict=True)]  # fmt: skip
        return dict(self.api.label(labels))

    def verify(self, model: str, *, frames: str | None, compare: str | None = None, level: float = 0.05) -> J:
        return dict(self.api.verify(model, frames=frames, compare=compare, level=level))

    def verify_page(self, model: str, *, frames: str | None) -> str:
        return str(self.api.verify(model, frames=frames, format="html"))

    def estimate(self, model: str, *, frames: str | None, since: str | None, level: float) -> J:
        return dict(self.api.estimate(model, frames=frames, since=since, level=level))

    def verify_plot(self, model: str, plot: str, *, frames: str | None, image_format: ImageFormat) -> bytes:
        return bytes(self.api.verify_plot(model, plot, format=image_format, frames=frames))

    def monitor(self, model: str, *, frames: str | None, since: str | None, dataset: str | None) -> J:
        name, version = self._version(model)
        return dict(self.api.monitor(name, version=version, frames=frames, since=since, dataset=dataset))

    def lineage(self, ref: str) -> list[J]:
        """A model's lineage, or (as locally) a dataset's when no model goes by `ref`."""
        if not ref.startswith("ds-"):
            try:
                name, version = self._version(ref)
                return _items(self.api.lineage(name, version=version))
            except (NotFound, InvalidInput):
                pass
        return list(self.api.dataset(ref)["lineage"])

    def datasets(self, stage: str | None = None, name: str | None = None) -> list[J]:
        return _all_items(lambda offset: self.api.datasets(stage=stage, name=name, limit=500, offset=offset))

    def models(self, name: str | None) -> list[J]:
        names = [name] if name else [m["name"] for m in _all_items(lambda o: self.api.models(limit=500, offset=o))]
        return [version for n in names for version in self._versions(n)]

    def _versions(self, name: str) -> list[J]:
        return _all_items(lambda offset: self.api.versions(name, limit=500, offset=offset))

    def perf(self, method: str | None, limit: int) -> J:
        return dict(self.api.perf(method, limit=limit))

    def jobs(self, status: str | None, limit: int) -> list[J]:
        return list(_items(self.api.jobs(status=status, limit=limit)))

    def job(self, job_id: str, wait: bool) -> J:
        found = self.api.job(job_id)
        deadline = time.monotonic() + 3600.0
        while wait and found["status"] in ("queued", "running") and time.monotonic() < deadline:
            found = self.api.job(job_id, wait=True, timeout=30.0)
        return dict(found)

    def cancel_job(self, job_id: str) -> J:
        return dict(self.api.cancel_job(job_id))

    def audit(self, filters: J, limit: int) -> J:
        text = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in filters.items()}
        return dict(self.api.audit(**text, limit=limit))

    def verify_audit(self) -> int:
        return self.api.verify_audit()

    def sources(self) -> list[J]:
        return list(_items(self.api.sources()))

    def source_tables(self, name: str) -> list[J]:
        return list(_items(self.api.source_tables(name)))

    def add_source(self, name: str, url: str) -> J:
        return dict(self.api.add_source(name, url))

    def remove_source(self, name: str) -> None:
        self.api.remove_source(name)

    def set_retrain_policy(self, model: str, *, when: list[str], pipeline: str, every: str | None,
                           cooldown: str | None) -> J:  # fmt: skip
        return dict(self.api.set_retrain_policy(model, when=when, pipeline=pipeline, every=every, cooldown=cooldown))

    def retrain_policies(self) -> list[J]:
        return list(_items(self.api.retrain_policies()))

    def remove_retrain_policy(self, model: str) -> None:
        self.api.remove_retrain_policy(model)

    def retrain_check(self) -> list[J]:
        return list(_items(self.api.retrain_check()))

    def retrain_triggers(self, model: str | None, limit: int) -> list[J]:
        return list(_items(self.api.retrain_triggers(model=model, limit=limit)))

    def add_webhook(self, url: str, *, events: list[str], secret_env: str) -> J:
        return dict(self.api.add_webhook(url, events=events, secret_env=secret_env))

    def webhooks(self) -> list[J]:
        return list(_items(self.api.webhooks()))

    def remove_webhook(self, target_id: str) -> None:
        self.api.remove_webhook(target_id)

    def webhook_deliveries(self, status: str | None, limit: int) -> list[J]:
        return list(_items(self.api.webhook_deliveries(status=status, limit=limit)))

    def challenger_check(self, model: str | None) -> list[J]:
        return list(_items(self.api.challenger_check(model)))

    def challenger_proposals(self, model: str | None, status: str | None, limit: int) -> list[J]:
        return list(_items(self.api.challenger_proposals(model=model, status=status, limit=limit)))

    def approve_challenger(self, model: str, reason: str | None) -> J:
        return dict(self.api.approve_challenger(model, reason=reason))

    def reject_challenger(self, model: str, reason: str | None) -> J:
        return dict(self.api.reject_challenger(model, reason=reason))

    def run_pipeline(self, pipeline: str | Pipeline, progress: Progress = no_progress) -> J:
        job = self.api.run_pipeline(pipeline if isinstance(pipeline, str) else pipeline.model_dump(mode="json"))
        return {"job": job["id"], **self._follow(job, progress)}

    def resume_pipeline(self, job_id: str, progress: Progress = no_progress) -> J:
        job = self.api.resume_pipeline(job_id)
        return {"job": job["id"], **self._follow(job, progress)}

    def export_model(self, ref: str) -> bytes:
        name, version = _numbered(self.api, ref)
        return bytes(self.api.export_model(name, version))

    def import_model(self, bundle: bytes, alias: str | None) -> J:
        return dict(self.api.import_model(bundle, alias=alias))

    def promote(self, ref: str, to: str, alias: str) -> J:
        name, version = _numbered(self.api, ref)
        return dict(self.api.promote(name, version, to=to, alias=alias))

    def provenance(self, ref: str) -> J:
        name, version = _numbered(self.api, ref)
        return dict(self.api.provenance(name, version))


def _numbered(api: Client, ref: str) -> tuple[str, int]:
    """A model reference's name and version number (an alias asked of the server): routes name one version."""
    parsed = ModelRef.parse(ref)
    if parsed.name is not None and parsed.alias is not None:
        return parsed.name, int(api.alias(parsed.name, parsed.alias)["version"])
    if parsed.version is None or parsed.name is None:
        raise InvalidInput(f"name one version, such as fraud/3 or fraud@champion (not {ref!r})", field="model")
    return parsed.name, parsed.version


def _all_items(page: Callable[[int], Any]) -> list[Any]:
    """Every item of a list route, a page at a time (`page(offset)` answers one envelope)."""
    items: list[Any] = []
    while True:
        answer = page(len(items))
        items.extend(answer["items"])
        if answer.get("next") is None:
            return items


def _items(answer: Any) -> list[Any]:
    """The items of a list answer, whether the server sends a bare list or a list envelope."""
    return list(answer["items"]) if isinstance(answer, dict) else list(answer)


def _read_table(path: str, text: tuple[str, ...] = ()) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype={c: str for c in text})
