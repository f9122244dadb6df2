"""Scoring-side use cases: score new data into the ledger, import late labels, verify them."""

from __future__ import annotations

import hashlib
import json
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from crispml.domain import (
    FRAME,
    RECORD_ID,
    ModelVersion,
    NewScoreBatch,
    PerfRecord,
    ScoreBatch,
    ScoredRecords,
    SourceSpec,
    parse_frames,
)
from crispml.errors import Conflict, InvalidInput, NotFound
from crispml.faults import crash_point
from crispml.observability import PerfClock, store_perf
from crispml.services.base import Progress, Service, new_id, no_progress, now
from crispml.steps import ingest as ingest_step
from crispml.steps.columns import arrow_numbers, plain_numbers
from crispml.steps.fast_path import SMALL, Scorer
from crispml.steps.pipeline import apply_pipeline, input_columns, numeric_columns, remaining_steps, replay
from crispml.steps.verify import verify as verify_step
from crispml.storage.repositories import Repository
from crispml.storage.sources import read_source
from crispml.storage.store import Store

_CHUNK = 100_000
HOT_ROWS = 64
"""Requests of up to this many records may take the hot path (`score_hot`)."""
REF_TTL_S = 1.0
"""How long a resolved model reference (fraud@champion) is reused: an alias moved by another process
reaches this one's scoring within this time. The ledger records the exact version either way."""


@dataclass(frozen=True)
class ScoreResult:
    """A committed score batch and its rows, in input order."""

    batch: ScoreBatch
    records: ScoredRecords
    replayed: bool = False

    @cached_property
    def scores(self) -> pd.DataFrame:
        """The rows as a frame: record_id, frame (nullable), score, decision."""
        rows = self.records
        return pd.DataFrame(
            {
                RECORD_ID: pd.array(rows.record_ids, dtype="str"),
                FRAME: pd.array(rows.frames, dtype="Int64"),
                "score": np.asarray(rows.scores, dtype=np.float64),
                "decision": np.asarray(rows.decisions, dtype=np.int64),
            }
        )


@dataclass(frozen=True)
class _Inputs:
    """What a score request reads: record ids, frames (None where unknown), the feature matrix."""

    record_ids: list[str]
    frames: list[int | None]
    features: np.ndarray


@dataclass(frozen=True)
class LabelReport:
    import_id: str
    imported: int
    positives: int
    unknown: int
    unknown_sample: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Verification:
    model: str
    rows: list[dict[str, Any]]


class ScoringService(Service):
    def __init__(self, store: Store, user: str) -> None:
        super().__init__(store, user)
        self._versions: dict[str, tuple[ModelVersion, str | None]] = {}
        """Model versions by id with their data's key column: what scoring reads of them never changes."""
        self._refs: dict[str, tuple[int, float, str]] = {}
        """Model references resolved lately: (registry version, reusable until, model version id)."""

    # -- 7. NewDataScore ------------------------------------------------------------------------
    def score(
        self,
        model_ref: str,
        *,
        dataset: str | None = None,
        frames: str | list[int] | None = None,
        file: str | None = None,
        records: list[dict[str, Any]] | pd.DataFrame | None = None,
        idempotency_key: str | None = None,
        progress: Progress = no_progress,
    ) -> ScoreResult:
        """Score a dataset's frames, a file or records; every score is committed before it is returned.

        A batch commits whole or not at all. With `idempotency_key`, a retry of the same request returns
        the first batch and writes nothing; the same key with a different request is a conflict.
        """
        chosen = [x for x in (dataset, file, records) if x is not None]
        if len(chosen) != 1:
            raise InvalidInput("score exactly one of: a dataset, a file, or records", field="source")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
            raise InvalidInput("an idempotency key has 1 to 200 characters", field="idempotency_key")
        with self._perf("score") as span:
            if dataset is not None:
                model = self._model(model_ref)
                span.model = model.ref
                inputs, source, request = self._dataset_inputs(model, dataset, frames)
                span.dataset = source
            else:
                model, key = self._model_and_key(model_ref)
                span.model = model.ref
                if frames is not None:
                    raise InvalidInput("frames select rows of a dataset; pass --dataset with them", field="frames")
                plain = _plain_inputs(model, records, key) if file is None else None
                if plain is not None:
                    inputs = plain
                else:
                    inputs = self._record_inputs(model, _read_records(file, records, (RECORD_ID,)), key)
                source = file or "records"
                request = _request_digest(model, source, inputs)
            span.rows_in = len(inputs.record_ids)
            if idempotency_key is not None:
                replay = self._replay(idempotency_key, request)
                if replay is not None:
                    span.rows_out = replay.batch.rows
                    return replay
            scorer = self.store.model_scorer(
                model.artifact_sha256, model.artifact_format, len(inputs.record_ids), model.twin_sha256
            )
            result, write = self._scored(model, inputs, source, request, scorer, idempotency_key, progress)
            try:
                if result.batch.rows < SMALL:
                    # Concurrent small requests share one commit; each still waits for its own.
                    self.store.group_commit.run(write)
                else:
                    with self.store.transaction() as repo:
                        write(repo)
            except Exception as exc:
                # A concurrent retry with the same key won the race: answer with its batch.
                if idempotency_key is not None and (replay := self._replay(idempotency_key, request)) is not None:
                    return replay
                raise exc
            span.rows_out = result.batch.rows
            progress("done", 1.0)
            return result

    def score_hot(self, model_ref: str, records: Any) -> PendingScore | None:
        """Take up to `HOT_ROWS` records of plain numbers for the group commit, with no file or database
        read on the caller's thread: the group's writer scores the records of all its requests for one
        model by one call, then commits them.

        The scores are durable once the returned `PendingScore.durable` completes, which raises what
        scoring or the commit raised; the answer must wait for it. None when the request needs a read
        first (a reference not resolved lately, a model not in memory) or is not a few records of plain
        numbers: `score` serves those. An asyncio server calls this on its event loop and awaits the
        future without holding a thread; the event loop never waits for a model either.
        """
        if not isinstance(records, list) or len(records) > HOT_ROWS:
            return None
        model_id = self._fresh_model_id(model_ref)
        known = self._versions.get(model_id) if model_id is not None else None
        if known is None:
            return None
        model, key = known
        clock = PerfClock("score")
        inputs = _plain_inputs(model, records, key)
        if inputs is None:
            return None
        rows = len(inputs.record_ids)
        scorer = self.store.loaded_scorer(model.artifact_sha256, model.artifact_format, rows, model.twin_sha256)
        if scorer is None:
            return None
        clock.span.model, clock.span.rows_in = model.ref, rows
        try:
            request = _request_digest(model, "records", inputs)
            unit = _HotScores(model, scorer, inputs, request, self.user, _new_batch(model, rows, "records", None))
            durable = self.store.group_commit.submit(unit)
        except Exception as exc:
            store_perf(clock.finish(exc), self._store_perf)
            raise
        clock.span.rows_out = rows

        def committed(done: Future[None]) -> None:
            store_perf(clock.finish(None if done.cancelled() else done.exception()), self._store_perf)

        durable.add_done_callback(committed)
        return PendingScore(durable, unit)

    def _scored(
        self,
        model: ModelVersion,
        inputs: _Inputs,
        source: str,
        request: str,
        scorer: Scorer,
        idempotency_key: str | None,
        progress: Progress,
    ) -> tuple[ScoreResult, _ScoresWrite]:
        """The scored batch, and the write that commits it whole."""
        batch = _new_batch(model, len(inputs.record_ids), source, idempotency_key)
        rows = _scored_records(inputs, _predict(scorer, inputs.features, model.threshold, progress), model.threshold)
        progress("persist", 0.8)
        return ScoreResult(batch, rows), _ScoresWrite(NewScoreBatch(batch, rows, request, self.user, model.threshold))

    def batch(self, batch_id: str) -> ScoreResult:
        """A committed batch and all its scores, as the ledger holds them."""
        with self.store.transaction() as repo:
            batch = repo.get_batch(batch_id)
            return ScoreResult(batch, repo.batch_scores(batch_id), replayed=True)

    def _model(self, model_ref: str) -> ModelVersion:
        return self._model_and_key(model_ref)[0]

    def _model_and_key(self, model_ref: str) -> tuple[ModelVersion, str | None]:
        """The model and the key column its training data was keyed by (None: ids from content).

        What scoring needs of a version never changes, so it is read once per process. Which version a
        reference names can change (an alias moves, a new version appears): a resolution is reused
        for at most `REF_TTL_S`, and not at all once this process has changed models or aliases.
        """
        model_id = self._model_id(model_ref)
        known = self._versions.get(model_id)
        if known is None:
            with self.store.reading() as repo:
                model = repo.get_model(model_id)
                known = self._versions[model_id] = (model, repo.get_dataset(model.dataset_id).params.get("key"))
        return known

    def _model_id(self, model_ref: str) -> str:
        model_id = self._fresh_model_id(model_ref)
        if model_id is None:
            with self.store.reading() as repo:
                model_id = repo.model_id(model_ref)
            self._refs[model_ref] = (self.store.registry_version, time.monotonic() + REF_TTL_S, model_id)
        return model_id

    def _fresh_model_id(self, model_ref: str) -> str | None:
        """The model id `model_ref` resolved to lately, unless that may be out of date."""
        cached = self._refs.get(model_ref)
        if cached is None or cached[0] != self.store.registry_version or time.monotonic() >= cached[1]:
            return None
        return cached[2]

    def _store_perf(self, record: PerfRecord) -> None:
        # Perf rows ride along with the next group of score commits; nobody waits for them.
        self.store.group_commit.background(_PerfWrite(record))

    def _dataset_inputs(
        self, model: ModelVersion, dataset_ref: str, frames: str | list[int] | None
    ) -> tuple[_Inputs, str, str]:
        """The inputs, the source text and the request digest.

        A dataset version is immutable and content-addressed, so the request is identified by the
        model, the dataset's sha256 and the frames, without hashing its rows.
        """
        with self.store.reading() as repo:
            dataset = repo.get_dataset(dataset_ref)
        chosen = parse_frames(frames, dataset.frames)
        steps = remaining_steps(model.pipeline, dataset.params.get("pipeline", []))
        needed = input_columns(steps, list(model.features))
        missing = [c for c in needed if c not in dataset.columns]
        if missing:
            raise InvalidInput(
                f"dataset {dataset.name}/{dataset.version} lacks column {missing[0]!r} the model needs",
                field=missing[0],
            )
        table = self.store.read_table(dataset.sha256, columns=[RECORD_ID, FRAME, *needed], frames=chosen)
        if table.num_rows == 0:
            raise InvalidInput(
                f"frames {list(chosen)} of {dataset.name}/{dataset.version} hold no rows", field="frames"
            )
        columns = numeric_columns(steps, list(model.features))
        plain = arrow_numbers(table, columns)
        if plain is not None:  # the usual case: ingestion stored numbers; no frame needed
            features = replay(plain, columns, steps, list(model.features))
        else:
            features = apply_pipeline(table.to_pandas(), steps, list(model.features))
        request = hashlib.sha256(json.dumps([model.id, "dataset", dataset.sha256, list(chosen)]).encode())
        inputs = _Inputs(table.column(RECORD_ID).to_pylist(), table.column(FRAME).to_pylist(), features)
        return inputs, f"{dataset.name}/{dataset.version} frames {_frames_text(chosen)}", request.hexdigest()

    def _record_inputs(self, model: ModelVersion, raw: pd.DataFrame, key: str | None) -> _Inputs:
        """Record ids (and frames, when given) beside the model's feature matrix for raw records."""
        raw.columns = [str(c) for c in raw.columns]
        needed = input_columns(model.pipeline, list(model.features))
        missing = [c for c in needed if c not in raw.columns]
        if missing:
            raise InvalidInput(f"records lack column {missing[0]!r} (needed: {', '.join(missing)})", field=missing[0])
        if RECORD_ID in raw.columns:
            ids = ingest_step.key_record_ids(raw, RECORD_ID)
        else:
            if key is not None and key in raw.columns:
                ids = ingest_step.key_record_ids(raw, key)
            elif key is not None:
                raise InvalidInput(f"records lack the key column {key!r} the model's data was keyed by", field=key)
            else:
                # The same content hash ingestion derives, over the same columns in the same order.
                ids = ingest_step.derive_record_ids(raw[needed], exclude=[])
        frames: list[int | None] = [None] * len(raw)
        if FRAME in raw.columns:
            given = pd.to_numeric(raw[FRAME], errors="coerce").astype("Int64")
            frames = given.astype(object).where(given.notna(), None).tolist()
        return _Inputs(ids.astype(str).tolist(), frames, apply_pipeline(raw, model.pipeline, list(model.features)))

    def _replay(self, idempotency_key: str, request: str) -> ScoreResult | None:
        with self.store.transaction() as repo:
            found = repo.find_batch(idempotency_key)
            if found is None:
                return None
            batch, digest = found
            if digest != request:
                raise Conflict(
                    f"idempotency key {idempotency_key!r} was used for a different request (batch {batch.id})",
                    field="idempotency_key",
                )
            return ScoreResult(batch, repo.batch_scores(batch.id), replayed=True)

    # -- 8. NewDataLabel ------------------------------------------------------------------------
    def label(
        self,
        *,
        file: str | None = None,
        records: list[dict[str, Any]] | pd.DataFrame | None = None,
        dataset: str | None = None,
        frames: str | list[int] | None = None,
        id_column: str = RECORD_ID,
        label_column: str = "label",
    ) -> LabelReport:
        """Upsert ground truth by record id; labels for records never scored are stored and counted."""
        chosen = [x for x in (dataset, file, records) if x is not None]
        if len(chosen) != 1:
            raise InvalidInput("label from exactly one of: a file, records, or a dataset", field="source")
        with self._perf("label") as span:
            if dataset is not None:
                with self.store.transaction() as repo:
                    found = repo.get_dataset(dataset)
                chosen_frames = parse_frames(frames, found.frames)
                frame = self.store.read_frame(found.sha256, [RECORD_ID, FRAME, found.target], chosen_frames)
                labels = pd.DataFrame({"record_id": frame[RECORD_ID], "label": frame[found.target]})
                source = f"{found.name}/{found.version} frames {_frames_text(chosen_frames)}"
                span.dataset = f"{found.name}/{found.version}"
            else:
                raw = _read_records(file, records, (id_column,))
                labels = _label_frame(raw, id_column, label_column)
                source = file or "records"
            span.rows_in = len(labels)
            if labels.empty:
                raise InvalidInput("there are no labels to import", field="source")
            import_id = new_id("li")
            with self.store.transaction() as repo:
                repo.upsert_labels(labels, source, import_id, self.user, now())
                unknown, sample = repo.unscored_labels(import_id)
            span.rows_out = len(labels)
            return LabelReport(import_id, len(labels), int(labels["label"].sum()), unknown, sample)

    # -- 9. NewDataReport -----------------------------------------------------------------------
    def verify(self, model_ref: str, *, frames: str | list[int] | None = None) -> Verification:
        """Ledger joined with labels per model version and frame, beside the training report's KPIs."""
        with self._perf("verify") as span:
            with self.store.transaction() as repo:
                versions = _versions(repo, model_ref)
                chosen = None
                if frames is not None:
                    chosen = parse_frames(frames, max(repo.get_dataset(v.dataset_id).frames for v in versions))
                ledger = repo.ledger([v.id for v in versions], chosen)
            span.model = model_ref
            span.rows_in = len(ledger)
            refs = {v.id: v.ref for v in versions}
            ledger["model"] = ledger["model_version_id"].map(refs)
            rows = verify_step(ledger)
            by_ref = {v.ref: v for v in versions}
            for row in rows:
                training = by_ref[row["model"]].metrics
                reference = (
                    training.get("overall")
                    if row["frame"] == "all"
                    else training.get("per_frame", {}).get(str(row["frame"]))
                )
                row["report_roc_auc"] = reference.get("roc_auc") if reference else None
                row["report_pr_auc"] = reference.get("pr_auc") if reference else None
            span.rows_out = len(rows)
            return Verification(model_ref, rows)


@dataclass(frozen=True)
class _ScoresWrite:
    """A group-commit unit appending one batch; a group's batches share one insert (`together`)."""

    new: NewScoreBatch

    def __call__(self, repo: Repository) -> None:
        self.together(repo, [self])

    @staticmethod
    def together(repo: Repository, units: list[_ScoresWrite]) -> None:
        _append_batches(repo, [unit.new for unit in units])


@dataclass
class _HotScores:
    """A group-commit unit that scores a few records, then appends them as one batch (`score_hot`).

    A group's units of one model version are scored by one call, which shares the call's fixed cost
    (and, for tree ensembles, the cache misses on the nodes every row visits). Scoring on the writer's
    thread also keeps the model off an asyncio server's event loop.
    """

    model: ModelVersion
    scorer: Scorer
    inputs: _Inputs
    request: str
    user: str
    batch: ScoreBatch
    result: ScoreResult | None = None
    """The committed batch, once the group's transaction has committed."""

    def __call__(self, repo: Repository) -> None:
        self.together(repo, [self])

    @staticmethod
    def together(repo: Repository, units: list[_HotScores]) -> None:
        by_model: dict[str, list[_HotScores]] = {}
        for unit in units:
            by_model.setdefault(unit.model.id, []).append(unit)
        written = []
        for same in by_model.values():
            model, first = same[0].model, same[0]
            features = np.concatenate([u.inputs.features for u in same]) if len(same) > 1 else first.inputs.features
            score = first.scorer.positive(features, model.threshold)
            start = 0
            for unit in same:
                end = start + len(unit.inputs.record_ids)
                rows = _scored_records(unit.inputs, score[start:end], model.threshold)
                unit.result = ScoreResult(unit.batch, rows)
                written.append(NewScoreBatch(unit.batch, rows, unit.request, unit.user, model.threshold))
                start = end
        _append_batches(repo, written)


@dataclass(frozen=True)
class PendingScore:
    """A few records handed to the group commit by `score_hot`."""

    durable: Future[None]
    """Completes once the batch is committed; raises what scoring or the commit raised."""
    _unit: _HotScores

    def result(self) -> ScoreResult:
        """The committed batch; raises what failed, or if `durable` has not completed yet."""
        self.durable.result(timeout=0)
        if self._unit.result is None:  # never: a unit is scored before its transaction commits
            raise RuntimeError("a committed batch without scores")
        return self._unit.result


@dataclass(frozen=True)
class _PerfWrite:
    """A group-commit unit storing one perf record; a group's records share one insert."""

    record: PerfRecord

    def __call__(self, repo: Repository) -> None:
        repo.add_perf(self.record)

    @staticmethod
    def together(repo: Repository, units: list[_PerfWrite]) -> None:
        repo.add_perf_records([unit.record for unit in units])


def _append_batches(repo: Repository, batches: list[NewScoreBatch]) -> None:
    repo.add_score_batches(batches)
    crash_point("scores.before_commit")


def _new_batch(model: ModelVersion, rows: int, source: str, idempotency_key: str | None) -> ScoreBatch:
    return ScoreBatch(
        id=new_id("sb"),
        model_version_id=model.id,
        model_ref=model.ref,
        idempotency_key=idempotency_key,
        source=source,
        rows=rows,
        created_at=now(),
    )


def _scored_records(inputs: _Inputs, score: np.ndarray, threshold: float) -> ScoredRecords:
    decisions = (score >= threshold).astype(np.int64).tolist()
    return ScoredRecords(inputs.record_ids, inputs.frames, score.tolist(), decisions)


def _versions(repo: Any, model_ref: str) -> list[ModelVersion]:
    if "@" in model_ref or "/" in model_ref or model_ref.startswith("mv-"):
        return [repo.get_model(model_ref)]
    versions: list[ModelVersion] = repo.list_models(model_ref)
    if not versions:
        raise NotFound(f"model {model_ref!r} does not exist")
    return versions


def _read_records(
    file: str | None, records: list[dict[str, Any]] | pd.DataFrame | None, id_columns: tuple[str, ...]
) -> pd.DataFrame:
    if file is not None:
        return read_source(SourceSpec(path=file), text_columns=id_columns).frame
    return _records_frame(records)


def _records_frame(records: list[dict[str, Any]] | pd.DataFrame | None) -> pd.DataFrame:
    if isinstance(records, pd.DataFrame):
        frame = records.copy()
    elif isinstance(records, list) and all(isinstance(r, dict) for r in records):
        frame = pd.DataFrame.from_records(records)
    else:
        raise InvalidInput("records must be a list of objects (column name to value)", field="records")
    if frame.empty:
        raise InvalidInput("there are no records to score", field="records")
    return frame


def _label_frame(raw: pd.DataFrame, id_column: str, label_column: str) -> pd.DataFrame:
    raw.columns = [str(c) for c in raw.columns]
    for column in (id_column, label_column):
        if column not in raw.columns:
            raise InvalidInput(
                f"labels lack column {column!r}; they have {', '.join(map(str, raw.columns[:20]))}",
                field=column,
            )
    ids = raw[id_column]
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty.any():
        first = int(np.argmax(empty.to_numpy())) + 1
        raise InvalidInput(
            f"column {id_column!r} is empty on {int(empty.sum())} rows (first: row {first})", field=id_column
        )
    values = pd.to_numeric(raw[label_column], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        raise InvalidInput(
            f"column {label_column!r} must hold 0 or 1; row {int(np.argmax(bad.to_numpy())) + 1} has "
            f"{raw[label_column][bad].iloc[0]!r}",
            field=label_column,
        )
    labels = pd.DataFrame({"record_id": ids.astype(str), "label": values.astype("int64")})
    # The last label given for a record in one import wins, as a later import would.
    return labels.drop_duplicates("record_id", keep="last")


def _predict(scorer: Scorer, matrix: np.ndarray, threshold: float, progress: Progress) -> np.ndarray:
    """P(class 1) per row, in chunks so that a long batch reports progress."""
    score = np.empty(len(matrix), dtype=np.float64)
    for start in range(0, len(matrix), _CHUNK):
        score[start : start + _CHUNK] = scorer.positive(matrix[start : start + _CHUNK], threshold)
        progress("score", 0.8 * min(1.0, (start + _CHUNK) / max(1, len(matrix))))
    return score


def _plain_inputs(
    model: ModelVersion, records: list[dict[str, Any]] | pd.DataFrame | None, key: str | None
) -> _Inputs | None:
    """Record ids and features of a few records of plain numbers, without pandas (the hot path).

    None sends the records the frame way (`_record_inputs`): too many, frames given, text, gaps, or ids
    that are not all present, unique text or integers. For records taken here both ways give the same
    ids and features; the frame way also names whatever it refuses.
    """
    if not isinstance(records, list) or not 0 < len(records) < SMALL:
        return None
    if not all(isinstance(r, dict) and FRAME not in r for r in records):
        return None
    features = list(model.features)
    needed = input_columns(model.pipeline, features)
    raw = plain_numbers(records, needed)
    if raw is None:
        return None
    id_column = RECORD_ID if any(RECORD_ID in r for r in records) else key
    if id_column is None:
        ids = ingest_step.content_ids(raw)
    else:
        given = [r.get(id_column) for r in records]
        if not all(type(i) is int or (type(i) is str and i.strip()) for i in given):
            return None
        ids = [str(i) for i in given]
        if len(set(ids)) != len(ids):
            return None
    columns = numeric_columns(model.pipeline, features)
    position = {c: j for j, c in enumerate(needed)}
    matrix = replay(raw[:, [position[c] for c in columns]], columns, model.pipeline, features)
    return _Inputs(ids, [None] * len(ids), matrix)


def _request_digest(model: ModelVersion, source: str, inputs: _Inputs) -> str:
    digest = hashlib.sha256(json.dumps([model.id, source, inputs.frames]).encode())
    digest.update("\n".join(inputs.record_ids).encode())
    digest.update(np.ascontiguousarray(inputs.features, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _frames_text(frames: tuple[int, ...]) -> str:
    if list(frames) == list(range(frames[0], frames[-1] + 1)):
        return f"{frames[0]}-{frames[-1]}" if len(frames) > 1 else str(frames[0])
    return ",".join(map(str, frames))
