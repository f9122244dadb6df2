"""NewDataScore: score records, a file or a dataset's frames into the ledger (and delegate the rest).

The pieces live beside it: `score_inputs` (what a request reads), `model_refs` (which version a
reference names), `labels` (NewDataLabel), `verification` (NewDataReport); the group commit's write
units are plain data in `crispml.storage.ledger_writes`.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from crispml.domain import CANARY, FRAME, RECORD_ID, ModelVersion, NewScoreBatch, ScoreBatch, ScoredRecords
from crispml.errors import Conflict, InvalidInput
from crispml.identity import request_id
from crispml.observability import metrics
from crispml.observability.perf import PerfClock, Span, store_perf
from crispml.ports import InputLog, Storage
from crispml.services.base import GroupedPerfService, Progress, new_id, no_progress, now
from crispml.services.challengers import Asked, Challengers
from crispml.services.estimation import Estimation, EstimationService
from crispml.services.kpi_floor import FloorPolicy, KpiFloor
from crispml.services.labels import LabelReport, LabelService
from crispml.services.model_cache import ModelCache
from crispml.services.model_refs import ModelRefs, ModelUnavailable, ScoringModel
from crispml.services.score_inputs import (
    ScoreInputs,
    dataset_inputs,
    legacy_request_digest,
    plain_inputs,
    read_records,
    record_inputs,
    request_digest,
    table_inputs,
)
from crispml.services.verification import Verification, VerificationService
from crispml.steps.fast_path import SMALL, Scorer
from crispml.storage.ledger_writes import HotScores, ScoresWrite, scored_records

__all__ = ["HOT_ROWS", "Estimation", "LabelReport", "PendingScore", "ScoreResult", "ScoringService", "Verification"]

_CHUNK = 100_000
HOT_ROWS = 64
"""Requests of up to this many records may take the hot path (`score_hot`)."""


@dataclass(frozen=True)
class ScoreResult:
    """A committed score batch and its rows, in input order."""

    batch: ScoreBatch
    records: ScoredRecords
    replayed: bool = False
    imputed: tuple[str, ...] = ()
    """Columns with missing values that the model's recorded missing-value policy filled."""

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
class PendingScore:
    """A few records handed to the group commit by `score_hot`."""

    durable: Future[None]
    """Completes once the batch is committed; raises what scoring or the commit raised."""
    _unit: HotScores

    def result(self) -> ScoreResult:
        """The committed batch; raises what failed, or if `durable` has not completed yet."""
        self.durable.result(timeout=0)
        if self._unit.records is None:  # never: a unit is scored before its transaction commits
            raise RuntimeError("a committed batch without scores")
        return ScoreResult(self._unit.batch, self._unit.records)


class ScoringService(GroupedPerfService):
    def __init__(
        self,
        store: Storage,
        user: str,
        models: ModelCache,
        floor: FloorPolicy | None = None,
        inputs: InputLog | None = None,
        *,
        shadow_share: float = 0.0,
        canary_share: float = 0.0,
    ) -> None:
        super().__init__(store, user)
        self._cache = models
        self.floor = KpiFloor(store, user, floor)
        """The fallback's KPI floor: its verdicts are worked out after label imports, never per request."""
        self._inputs = inputs
        """Where the inputs of records scored online are kept (memory only on this path), if anywhere."""
        self._refs = ModelRefs(store, models, self.floor.under)
        self._challengers = Challengers(store, self._refs, models, shadow_share=shadow_share, canary_share=canary_share)
        self._labels = LabelService(store, user)
        self._verification = VerificationService(store, user)
        self._estimation = EstimationService(store, user)

    # -- 7. NewDataScore ------------------------------------------------------------------------
    def score(
        self,
        model_ref: str,
        *,
        dataset: str | None = None,
        frames: str | list[int] | None = None,
        file: str | None = None,
        records: list[dict[str, Any]] | pd.DataFrame | None = None,
        table: pa.Table | None = None,
        idempotency_key: str | None = None,
        progress: Progress = no_progress,
    ) -> ScoreResult:
        """Score a dataset's frames, a file, records or a table of records (Arrow); every score is
        committed before it is returned. A table's rows get the ids and scores the same rows sent as
        records get.

        A batch commits whole or not at all. With `idempotency_key`, a retry of the same request returns
        the first batch and writes nothing; the same key with a different request is a conflict.
        """
        chosen = [x for x in (dataset, file, records, table) if x is not None]
        if len(chosen) != 1:
            raise InvalidInput("score exactly one of: a dataset, a file, records or a table", field="source")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= 200:
            raise InvalidInput("an idempotency key has 1 to 200 characters", field="idempotency_key")
        with self._perf("score") as span:
            by = partial(self._score, model_ref, span, dataset, frames, file, records, table, idempotency_key, progress)
            try:
                return by(*self._refs.resolve(model_ref))
            except ModelUnavailable as exc:
                failed = exc
            fallback, reason = self._refs.fall_back(model_ref, failed)  # raises failed.cause when there is none
            try:
                return by(fallback, reason)
            except ModelUnavailable as also:
                raise failed.cause.with_traceback(None) from also.cause

    def _score(
        self,
        model_ref: str,
        span: Span,
        dataset: str | None,
        frames: str | list[int] | None,
        file: str | None,
        records: list[dict[str, Any]] | pd.DataFrame | None,
        table: pa.Table | None,
        idempotency_key: str | None,
        progress: Progress,
        scoring: ScoringModel,
        fallback_reason: str | None,
    ) -> ScoreResult:
        """`score` by this version (the one named, or the fallback for `fallback_reason`); raises
        `ModelUnavailable` if it cannot be loaded, before anything is written."""
        model = scoring.model
        span.model = model.ref
        asked, role = Asked(dataset, frames, file, records, table), None
        legacy: Callable[[], str] | None = None
        if dataset is not None:
            inputs, source, request = dataset_inputs(self.store, model, dataset, frames)
            span.dataset = source
        else:
            if frames is not None:
                raise InvalidInput("frames select rows of a dataset; pass --dataset with them", field="frames")
            if table is not None:
                inputs = table_inputs(scoring, table)
            else:
                plain = plain_inputs(scoring, records) if file is None else None
                inputs = (
                    plain if plain is not None else record_inputs(scoring, read_records(file, records, (RECORD_ID,)))
                )
            source = file or "records"
            if fallback_reason is None and (canary := self._challengers.canary(model_ref, inputs, asked)):
                (scoring, inputs), role = canary, CANARY
                model = scoring.model
                span.model = model.ref
            request = request_digest(model, source, inputs)
            legacy = partial(legacy_request_digest, model, source, inputs)
        span.rows_in = len(inputs.record_ids)
        if idempotency_key is not None:
            replay = self._replay(idempotency_key, request, legacy)
            if replay is not None:
                span.rows_out = replay.batch.rows
                return replay
        try:
            scorer = self._cache.scorer(
                model.artifact_sha256, model.artifact_format, len(inputs.record_ids), model.twin_sha256
            )
        except Exception as exc:  # whatever keeps a model from memory: its fallback may answer
            raise ModelUnavailable(model, exc) from exc
        result, write = self._scored(
            model, inputs, source, request, scorer, idempotency_key, progress, fallback_reason, role
        )
        try:
            if result.batch.rows < SMALL:
                # Concurrent small requests share one commit; each still waits for its own.
                self.store.write_grouped(write)
            else:
                self.store.write_alone(write)
        except Exception as exc:
            # A concurrent retry with the same key won the race: answer with its batch.
            if idempotency_key is not None and (replay := self._replay(idempotency_key, request, legacy)) is not None:
                return replay
            raise exc
        metrics.scores_written(model.name, model.version, result.batch.rows)
        if self._inputs is not None and dataset is None and not result.replayed:
            records = result.records
            self._inputs.append(model.id, model.features, inputs.features, records.record_ids, records.scores)
        if fallback_reason is not None:
            metrics.fallback_scored(model.name, fallback_reason.partition(":")[0], result.batch.rows)
        span.rows_out = result.batch.rows
        self._challengers.shadow(model_ref, result.batch, scoring, inputs, asked, self.user, request_id())
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
        answer = self._refs.fresh(model_ref)
        if answer is None:
            return None
        scoring, reason = answer
        model = scoring.model
        clock = PerfClock("score")
        inputs = plain_inputs(scoring, records)
        if inputs is None:
            return None
        challengers, role = self._challengers, None
        if (
            challengers.canary_share
            and reason is None
            and (canary := challengers.canary_ref(model_ref, inputs.record_ids[0]))
        ):
            found = challengers.canary_fresh(canary, records, inputs)
            if found is None:
                return None  # `score` resolves and loads the challenger
            (scoring, inputs), role = found, CANARY
            model = scoring.model
        rows = len(inputs.record_ids)
        scorer = self._cache.loaded_scorer(model.artifact_sha256, model.artifact_format, rows, model.twin_sha256)
        if scorer is None:
            return None
        clock.span.model, clock.span.rows_in = model.ref, rows
        try:
            unit = HotScores(
                model.id,
                scorer.positive,
                model.threshold,
                inputs.record_ids,
                inputs.frames,
                inputs.features,
                _new_batch(model, rows, "records", None, reason, role),
                request_digest(model, "records", inputs),
                self.user,
                request_id=request_id(),
            )
            durable = self.store.submit_grouped(unit)
        except Exception as exc:
            store_perf(clock.finish(exc), self._store_perf)
            raise
        clock.span.rows_out = rows

        def committed(done: Future[None]) -> None:
            error = None if done.cancelled() else done.exception()
            if error is None:
                metrics.scores_written(model.name, model.version, rows)
                if self._inputs is not None and unit.records is not None:
                    self._inputs.append(
                        model.id, model.features, inputs.features, inputs.record_ids, unit.records.scores
                    )
                if reason is not None:
                    metrics.fallback_scored(model.name, reason.partition(":")[0], rows)
                if challengers.shadow_share:
                    challengers.shadow(
                        model_ref, unit.batch, scoring, inputs, Asked(records=records), self.user, unit.request_id
                    )
            store_perf(clock.finish(error), self._store_perf)

        durable.add_done_callback(committed)
        return PendingScore(durable, unit)

    def close(self, timeout: float = 30.0) -> None:
        """Write what the challengers' shadow still has queued, then stop its thread."""
        self._challengers.close(timeout)

    def degraded(self) -> dict[str, str]:
        """Model references this process answers with their fallback version, each with the reason."""
        return {**self.floor.degraded(), **self._refs.degraded()}

    def batch(self, batch_id: str) -> ScoreResult:
        """A committed batch and all its scores, as the ledger holds them."""
        with self.store.reading() as uow:
            batch = uow.ledger.get_batch(batch_id)
            return ScoreResult(batch, uow.ledger.batch_scores(batch_id), replayed=True)

    # -- 8. NewDataLabel, 9. NewDataReport ------------------------------------------------------
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
        report = self._labels.label(
            file=file, records=records, dataset=dataset, frames=frames, id_column=id_column, label_column=label_column
        )
        self.floor.check_quietly()  # new labels may move a realized KPI across the fallback's floor
        return report

    def verify(
        self,
        model_ref: str,
        *,
        frames: str | list[int] | None = None,
        compare: str | None = None,
        level: float = 0.05,
    ) -> Verification:
        """Ledger joined with labels per model version and frame, beside the training report's KPIs; with
        `compare`, two versions on the same labelled records (see `crispml.services.comparison`)."""
        return self._verification.verify(model_ref, frames=frames, compare=compare, level=level)

    def estimate(
        self, model_ref: str, *, frames: str | list[int] | None = None, since: str | None = None, level: float = 0.99
    ) -> Estimation:
        """Performance before labels: see `EstimationService.estimate`."""
        return self._estimation.estimate(model_ref, frames=frames, since=since, level=level)

    # -- helpers --------------------------------------------------------------------------------
    def _scored(
        self,
        model: ModelVersion,
        inputs: ScoreInputs,
        source: str,
        request: str,
        scorer: Scorer,
        idempotency_key: str | None,
        progress: Progress,
        fallback_reason: str | None,
        role: str | None,
    ) -> tuple[ScoreResult, ScoresWrite]:
        """The scored batch, and the write that commits it whole."""
        batch = _new_batch(model, len(inputs.record_ids), source, idempotency_key, fallback_reason, role)
        score = _predict(scorer, inputs.features, model.threshold, progress)
        rows = scored_records(inputs.record_ids, inputs.frames, score, model.threshold)
        progress("persist", 0.8)
        write = ScoresWrite(NewScoreBatch(batch, rows, request, self.user, model.threshold, request_id()))
        return ScoreResult(batch, rows, imputed=inputs.imputed), write

    def _replay(self, idempotency_key: str, request: str, legacy: Callable[[], str] | None) -> ScoreResult | None:
        """The batch an earlier request with this key wrote, if any; `legacy` gives the request's digest
        as batches written by an earlier crispml hold it (None: it has not changed)."""
        with self.store.reading() as uow:
            found = uow.ledger.find_batch(idempotency_key)
            if found is None:
                return None
            batch, digest = found
            if digest != request and (legacy is None or digest != legacy()):
                raise Conflict(
                    f"idempotency key {idempotency_key!r} was used for a different request (batch {batch.id})",
                    field="idempotency_key",
                )
            return ScoreResult(batch, uow.ledger.batch_scores(batch.id), replayed=True)


def _new_batch(
    model: ModelVersion,
    rows: int,
    source: str,
    idempotency_key: str | None,
    fallback_reason: str | None,
    role: str | None = None,
) -> ScoreBatch:
    return ScoreBatch(
        id=new_id("sb"),
        model_version_id=model.id,
        model_ref=model.ref,
        idempotency_key=idempotency_key,
        source=source,
        rows=rows,
        created_at=now(),
        fallback_reason=fallback_reason,
        role=role,
    )


def _predict(scorer: Scorer, matrix: np.ndarray, threshold: float, progress: Progress) -> np.ndarray:
    """P(class 1) per row, in chunks so that a long batch reports progress."""
    score = np.empty(len(matrix), dtype=np.float64)
    for start in range(0, len(matrix), _CHUNK):
        score[start : start + _CHUNK] = scorer.positive(matrix[start : start + _CHUNK], threshold)
        progress("score", 0.8 * min(1.0, (start + _CHUNK) / max(1, len(matrix))))
    return score
