"""DataIngestion: raw data from a file, a registered source (a table, a read-only query, a folder) or
the shared data pool into a new immutable raw dataset version, cut into time frames."""

from __future__ import annotations

from dataclasses import asdict

from crispml.domain import FRAME, RECORD_ID, Dataset, SourceSpec, Stage
from crispml.domain.refs import check_name
from crispml.errors import InvalidInput
from crispml.ports import Storage
from crispml.services.base import Progress, Service, no_progress
from crispml.services.dataset_versions import store_dataset
from crispml.services.pool import DataPool
from crispml.services.visibility import writable_project
from crispml.steps import record_ids
from crispml.steps.ingest import summarize
from crispml.steps.privacy import check_tags, taggable
from crispml.steps.stage_frames import default_name, raw_frame
from crispml.storage.bounded_read import ReadLimits
from crispml.storage.sources import DEFAULT_TIMEOUT_S, read_source


class IngestionService(Service):
    def __init__(self, store: Storage, user: str, read_limits: ReadLimits | None = None,
                 source_timeout_s: float = DEFAULT_TIMEOUT_S, pool: DataPool | None = None) -> None:  # fmt: skip
        super().__init__(store, user)
        self.pool = pool or DataPool(None, "", {}, lambda: None, 2)
        """The shared data pool this environment reads through its filter (see `crispml.services.pool`)."""
        self.read_limits = read_limits or ReadLimits()
        """What a source may expand to (zip bombs end in TooLarge while they stream in)."""
        self._source_timeout_s = source_timeout_s

    def ingest(
        self,
        source: SourceSpec,
        *,
        name: str | None = None,
        slices: int = 12,
        percent_data: float = 1.0,
        seed: int = 42,
        target: str = "Class",
        key: str | None = None,
        time_column: str | None = None,
        project: str | None = None,
        tags: dict[str, str] | None = None,
        progress: Progress = no_progress,
    ) -> Dataset:
        """Read a source into a new immutable raw dataset version cut into `slices` time frames, in
        `project` (default: the acting key's only project, else 'default').

        `source` is a file this process may read, or a registered source (`source.source`) with a table,
        a query (run read-only, with the statement timeout) or a path inside its folder. `tags` marks
        columns `personal`, `quasi-identifier` or `sensitive` (see `crispml.steps.privacy`).

        `source.pool` names a dataset of the shared data pool instead: it is read through this
        environment's filter and stored as it is framed there (`slices`, `percent_data`, `seed`,
        `target`, `key` and `time_column` do not apply; its tags come with it).
        """
        name = check_name(name or default_name(source), "dataset name")
        project = writable_project(project)
        if source.pool is not None:
            return self._ingest_pool(source.pool, name, project, progress)
        if slices < 1:
            raise InvalidInput("slices must be at least 1", field="slices")
        if not 0 < percent_data <= 1:
            raise InvalidInput(f"percent_data {percent_data} must lie in (0, 1]", field="percent_data")
        with self._perf("ingest") as span:
            span.dataset = name
            progress("read source", 0.0)
            registered = None
            if source.source is not None:
                with self.store.reading() as uow:
                    registered = uow.sources.get(source.source)
            raw = read_source(source, registered=registered, timeout_s=self._source_timeout_s, limits=self.read_limits)
            span.rows_in = len(raw.frame)
            progress("cut frames", 0.4)
            built = raw_frame(
                raw.frame,
                target=target,
                key=key,
                time_column=time_column,
                slices=slices,
                percent_data=percent_data,
                seed=seed,
            )
            progress("write dataset", 0.7)
            checked_tags = check_tags(tags or {}, taggable(list(built.rows.columns), key))
            dataset = store_dataset(
                self.store,
                self.user,
                built.rows,
                name=name,
                stage=Stage.RAW,
                target=target,
                frames=slices,
                params={
                    "slices": slices,
                    "percent_data": percent_data,
                    "seed": seed,
                    "key": key,
                    "time_column": time_column,
                    "frames_present": built.frames_present,
                    "pipeline": [],
                    "raw_features": built.features,
                    "record_id_scheme": record_ids.SCHEME,
                },
                report={"rows_source": span.rows_in, "stats": built.stats},
                source=raw.source,
                source_sha256=raw.source_sha256,
                parent=None,
                project=project,
                tags=checked_tags,
            )
            span.rows_out = dataset.rows
            progress("done", 1.0)
            return dataset

    def _ingest_pool(self, ref: str, name: str, project: str, progress: Progress) -> Dataset:
        """A pool dataset, filtered before anything is written, as a new raw version recording its origin."""
        with self._perf("ingest") as span:
            span.dataset = name
            progress("read pool", 0.0)
            read = self.pool.read(ref)
            pool, filtered = read.dataset, read.filtered
            span.rows_in = pool.rows
            progress("write dataset", 0.7)
            lineage = read.lineage(self.pool.where)
            frame = filtered.frame
            # Described afresh from the filtered rows: the pool's own summary would tell of dropped columns.
            features = [c for c in frame.columns if c not in (RECORD_ID, FRAME, pool.target)]
            stats = [asdict(s) for s in summarize(frame, [*features, pool.target])]
            params = {k: v for k, v in pool.params.items() if k not in ("pool", "pool_filter")}
            params |= {"raw_features": features, "frames_present": sorted(int(f) for f in frame[FRAME].unique())}
            dataset = store_dataset(
                self.store, self.user, frame, name=name, stage=Stage.RAW, target=pool.target,
                frames=pool.frames, params={**params, **lineage}, report={"rows_source": pool.rows, "stats": stats},
                source=f"pool {pool.name}/{pool.version}", source_sha256=pool.sha256, parent=None,
                project=project, tags=filtered.tags, audit=lineage,
            )  # fmt: skip
            span.rows_out = dataset.rows
            progress("done", 1.0)
            return dataset
