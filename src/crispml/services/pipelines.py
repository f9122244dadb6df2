"""Pipelines as code: a declared cycle run as one durable job, step by step, each step the service
call of the same name (so each gets its perf record, audit event and lineage as when run by hand).

After each step its output (a dataset id, a model reference, KPIs) is written into the job's `result`,
so a job interrupted by a crash can be resumed: `resume` starts a new job that carries the finished
steps over and continues from the next one.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from crispml.contract.pipeline import Gate, Pipeline, validate_pipeline
from crispml.domain import Job, JobStatus, SourceSpec
from crispml.errors import Conflict, GateFailed, InvalidInput
from crispml.faults import crash_point
from crispml.ports import Storage
from crispml.services.base import Progress, Service, new_id
from crispml.services.ingestion import IngestionService
from crispml.services.jobs import JobService
from crispml.services.lifecycle import LifecycleService
from crispml.services.scoring import ScoringService
from crispml.services.synthesis import write_synthetic
from crispml.steps.algorithms import get_algorithm, resolve_params

State = dict[str, dict[str, Any]]
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


class PipelineService(Service):
    def __init__(
        self,
        store: Storage,
        user: str,
        ingestion: IngestionService,
        lifecycle: LifecycleService,
        scoring: ScoringService,
        jobs: Callable[[], JobService],
        data_dir: Path,
    ) -> None:
        super().__init__(store, user)
        self.ingestion, self.lifecycle, self.scoring = ingestion, lifecycle, scoring
        self._jobs = jobs
        self.data_dir = data_dir
        """Where relative source paths of a pipeline file are read."""

    def submit(self, pipeline: Pipeline, source: SourceSpec | None = None) -> Job:
        """Check `pipeline` and queue it as one job (kind `pipeline`); `source` overrides the ingest source
        (a REST caller's path, contained in the data folder)."""
        check_pipeline(pipeline)
        params = {"pipeline": pipeline.model_dump(mode="json", exclude_none=True)}
        return self._submit(pipeline, params, {}, source)

    def resume(self, job_id: str) -> Job:
        """A new job that carries over the finished steps of an interrupted (or failed) pipeline job and
        runs the rest."""
        jobs = self._jobs()
        old = jobs.get(job_id)
        if old.kind != "pipeline":
            raise InvalidInput(f"job {job_id} is a {old.kind} job, not a pipeline", field="job")
        if not old.status.finished or old.status is JobStatus.SUCCEEDED:
            raise Conflict(
                f"job {job_id} is {old.status.value}: only an ended, unfinished pipeline resumes", field="job"
            )
        pipeline = Pipeline.model_validate(old.params["pipeline"])
        done: State = dict((old.result or {}).get("steps", {}))
        source = SourceSpec(**old.params["source"]) if old.params.get("source") else None
        params = {**old.params, "resumes": job_id, "root": old.params.get("root", job_id)}
        return self._submit(pipeline, params, done, source)

    def _submit(self, pipeline: Pipeline, params: dict[str, Any], done: State, source: SourceSpec | None) -> Job:
        job_id = new_id("job")
        params = {"root": job_id, **params, "job": job_id}  # a resumed run keeps its first job as root
        if source is not None:
            params["source"] = {k: v for k, v in vars(source).items() if v is not None}
        return self._jobs().submit(
            "pipeline", params, lambda progress: self._work(params, done, progress), job_id=job_id
        )

    def run_job(self, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        """Run a queued pipeline job from its params (what `crispml worker` does): the steps a killed
        earlier attempt of the same job (or the job it resumes) finished are carried over."""
        with self.store.jobs() as rows:
            earlier = [rows.get(params[key]).result or {} for key in ("job", "resumes") if params.get(key)]
        done: State = next((dict(result["steps"]) for result in earlier if result.get("steps")), {})
        return self._work(params, done, progress)

    def _work(self, params: dict[str, Any], done: State, progress: Progress) -> dict[str, Any]:
        pipeline = Pipeline.model_validate(params["pipeline"])
        source = SourceSpec(**params["source"]) if params.get("source") else None
        record: Callable[[State], None] = lambda state: self._record(params["job"], state)  # noqa: E731
        return {"steps": self.run(pipeline, progress, done, record, source, params["root"])}

    def _record(self, job_id: str, state: State) -> None:
        with self.store.jobs() as rows:
            rows.update(job_id, result={"steps": state})

    def run(
        self,
        pipeline: Pipeline,
        progress: Progress,
        done: State | None = None,
        record: Callable[[State], None] = lambda _state: None,
        source: SourceSpec | None = None,
        run_id: str = "local",
    ) -> State:
        """Run the steps not in `done`, calling `record` with the state after each; returns the state."""
        state: State = dict(done or {})
        steps = pipeline.steps()
        for index, step in enumerate(steps):
            if step in state:
                continue
            progress(step, index / len(steps))

            def inner(phase: str, fraction: float, index: int = index, step: str = step) -> None:
                progress(f"{step}: {phase}", (index + min(fraction, 0.99)) / len(steps))

            state[step] = self._step(pipeline, step, state, inner, source, run_id)
            record(state)
            crash_point(f"pipeline.{step}")  # the crash tests kill the process here, the step recorded
        return state

    def _step(self, p: Pipeline, step: str, state: State, progress: Progress, source: SourceSpec | None,
              run_id: str) -> dict[str, Any]:  # fmt: skip
        life, scoring = self.lifecycle, self.scoring
        raw = state["ingest"]["dataset"] if "ingest" in state else p.dataset
        model = state.get("train", {}).get("model")
        match step:
            case "ingest":
                return {"dataset": self._ingest(p, progress, source).id}
            case "prepare":
                return {"dataset": life.prepare(str(raw), missing=p.prepare.missing, name=p.prepare.name,
                                                progress=progress).id}  # fmt: skip
            case "curate":
                curated = life.curate(state["prepare"]["dataset"], algorithm=p.curate.algorithm,
                                      frames=p.curate.frames, name=p.curate.name, progress=progress)  # fmt: skip
                return {"dataset": curated.id}
            case "train":
                t = p.train
                trained = life.train(state["curate"]["dataset"], algorithm=t.algorithm, frames=t.frames, name=t.name,
                                     weight=t.weight, params=t.params, seed=t.seed, threshold=t.threshold,
                                     progress=progress)  # fmt: skip
                return {"model": trained.ref}
            case "report":
                report = life.report(str(model), frames=p.report.frames, threshold=p.report.threshold)
                return {"frames": report.get("frames"), "overall": report.get("overall")}
            case "gates":
                return {"passed": [check_gate(g, state["report"].get("overall")) for g in p.gates]}
            case "persist":
                persisted = life.persist(str(model), alias=p.persist.alias)
                return {"model": persisted.ref, "alias": p.persist.alias}
            case "score":
                assert p.score is not None
                # One key per pipeline run: a resumed run that scored before the crash writes nothing twice.
                scored = scoring.score(f"{p.train.name}@{p.persist.alias}", dataset=str(raw), frames=p.score.frames,
                                       idempotency_key=f"pipeline-{run_id}-score", progress=progress)  # fmt: skip
                return {"batch": scored.batch.id, "rows": scored.batch.rows, "model": scored.batch.model_ref}
            case "label":
                assert p.label is not None
                labels = scoring.label(dataset=str(raw), frames=p.label.frames)
                return {"import_id": labels.import_id, "imported": labels.imported, "positives": labels.positives}
            case _:  # verify
                assert p.verify is not None
                return {"rows": scoring.verify(str(model), frames=p.verify.frames).rows}

    def _ingest(self, p: Pipeline, progress: Progress, source: SourceSpec | None) -> Any:
        ingest = p.ingest
        assert ingest is not None
        spec = source or resolved_source(ingest.source.model_dump(), self.data_dir)
        if ingest.synthetic_rows is not None and spec.path is not None and not Path(spec.path).exists():
            progress("synthesize", 0.0)
            Path(spec.path).parent.mkdir(parents=True, exist_ok=True)
            write_synthetic(Path(spec.path), ingest.synthetic_rows)
        options = ingest.model_dump(exclude={"source", "synthetic_rows"})
        return self.ingestion.ingest(spec, progress=progress, **options)


def parse_pipeline(text: str | bytes | dict[str, Any]) -> Pipeline:
    """A pipeline from a file's YAML or JSON text (or its parsed mapping); InvalidInput naming the first bad
    key's path. JSON is YAML: one parser reads both."""
    if isinstance(text, dict):
        return validate_pipeline(text)
    try:
        return validate_pipeline(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise InvalidInput(f"the pipeline file is not valid YAML or JSON: {exc}", field="pipeline") from None


def check_pipeline(pipeline: Pipeline) -> None:
    """Refuse, before anything runs, what the schema cannot know: unknown algorithms or hyper-parameters."""
    for path, algorithm in (
        ("curate.algorithm", pipeline.curate.algorithm),
        ("train.algorithm", pipeline.train.algorithm),
    ):
        try:
            get_algorithm(algorithm)
        except InvalidInput as exc:
            raise InvalidInput(f"pipeline {path}: {exc.message}", field=path) from None
    train = pipeline.train
    try:
        resolve_params(get_algorithm(train.algorithm), train.params, train.weight, train.seed)
    except InvalidInput as exc:
        raise InvalidInput(f"pipeline train.params: {exc.message}", field="train.params") from None


def resolved_source(source: dict[str, Any], data_dir: Path) -> SourceSpec:
    """A pipeline's source, its relative path read in the data folder."""
    path = source.get("path")
    if path is not None and source.get("source") is None and not Path(path).is_absolute():
        source = {**source, "path": str(data_dir / path)}
    return SourceSpec(**source)


def check_gate(gate: Gate, overall: dict[str, Any] | None) -> str:
    """The gate's text when it holds; GateFailed naming the gate and the value otherwise."""
    value = (overall or {}).get(gate.kpi)
    if not isinstance(value, int | float):
        known = ", ".join(sorted(k for k, v in (overall or {}).items() if isinstance(v, int | float)))
        raise GateFailed(f"gate {gate.text}: the report has no KPI {gate.kpi!r} (it has: {known or 'none'})",
                         field="gates")  # fmt: skip
    if not _COMPARE[gate.op](float(value), gate.value):
        raise GateFailed(f"gate {gate.text} failed: {gate.kpi} is {value:.4f}; the pipeline stopped before persist",
                         field="gates")  # fmt: skip
    return f"{gate.text} ({gate.kpi} = {value:.4f})"
