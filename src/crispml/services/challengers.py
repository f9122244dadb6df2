"""The `challenger` alias beside a name's `champion`: in the shadow, or answering a canary share.

Shadow: once the champion's batch has committed, the same records go to a bounded queue, and one
background thread gathers them for a moment, scores them with the challenger in one call and appends
them to the ledger as one batch of role `shadow` (per source and user) that names every champion batch
it shadows, through the group commit like any other write. The answer never waits for any of it: a full
queue drops the shadow (counted in `crispml_shadow_dropped_total`), and closing the service flushes what
is queued. Verification leaves shadow scores out; `verify --compare champion,challenger` pairs them with
the champion's.

Canary: a share of the requests on `name@champion` is answered by `name@challenger` instead, chosen by
the first record's id (the same record always goes the same way); its batch has role `canary`.

Which requests are shadowed or canaries is decided by a hash of the first record's id, so it costs a
dict look-up and, below a share of 1, one small hash per request.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from itertools import groupby
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from crispml.domain import RECORD_ID, SHADOW, NewScoreBatch, ScoreBatch
from crispml.domain.refs import ModelRef
from crispml.errors import NotFound
from crispml.observability import metrics
from crispml.ports import Storage
from crispml.services.base import new_id, now
from crispml.services.model_cache import ModelCache
from crispml.services.model_refs import REF_TTL_S, ModelRefs, ModelUnavailable, ScoringModel
from crispml.services.score_inputs import (
    ScoreInputs,
    dataset_inputs,
    plain_inputs,
    read_records,
    record_inputs,
    request_digest,
    table_inputs,
)
from crispml.storage.ledger_writes import BatchesWrite, scored_together

log = logging.getLogger("crispml.challengers")

CHAMPION = "champion"
CHALLENGER = "challenger"
_GROUP = 256
"""At most this many queued requests are scored together and appended with one commit."""
_GATHER_S = 0.025
"""How long the shadow gathers requests after the first before scoring them: at a thousand requests a second,
some 25 share one scoring call and one shadow batch: their score rows, one batch row and one audit event
ride with one group commit."""


@dataclass(frozen=True)
class Asked:
    """What a score request read, kept to read the same records again for another version."""

    dataset: str | None = None
    frames: str | list[int] | None = None
    file: str | None = None
    records: list[dict[str, Any]] | pd.DataFrame | None = None
    table: pa.Table | None = None

    def inputs(self, store: Storage, scoring: ScoringModel) -> ScoreInputs:
        """The request's inputs as `scoring`'s version reads them (its own features)."""
        if self.dataset is not None:
            return dataset_inputs(store, scoring.model, self.dataset, self.frames)[0]
        if self.table is not None:
            return table_inputs(scoring, self.table)
        plain = plain_inputs(scoring, self.records) if self.file is None else None
        return (
            plain if plain is not None else record_inputs(scoring, read_records(self.file, self.records, (RECORD_ID,)))
        )


class _Shadow(NamedTuple):
    """A committed champion batch for the challenger (a tuple: one is built on the writer thread per request)."""

    name: str
    batch_id: str
    inputs: ScoreInputs
    """The champion's inputs: record ids and frames always, features when the challenger's pipeline is the same."""
    pipeline: str
    """The champion's pipeline signature (`FeaturePipeline.signature`)."""
    asked: Asked
    source: str
    user: str
    request_id: str | None

    @property
    def record_ids(self) -> list[str]:
        return self.inputs.record_ids


def same_records(inputs: ScoreInputs, record_ids: list[str], frames: list[int | None]) -> ScoreInputs:
    """Another version's features of the same records under the ids (and frames) the champion gave them,
    so that both versions' scores meet on the same record ids."""
    return ScoreInputs(record_ids, frames, inputs.features, inputs.imputed)


def picked(record_id: str, share: float, salt: str) -> bool:
    """Whether a record falls in `share` (0..1): by a hash of its id, so always the same way."""
    if share >= 1.0:
        return True
    if share <= 0.0:
        return False
    digest = hashlib.blake2b(f"{salt}:{record_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") < share * 2**64


class Challengers:
    """Shadow scoring and canary answers by a name's `challenger` (see the module's docstring)."""

    def __init__(
        self,
        store: Storage,
        refs: ModelRefs,
        models: ModelCache,
        *,
        shadow_share: float = 0.0,
        canary_share: float = 0.0,
        queue_size: int = 10_000,
    ) -> None:
        self._store = store
        self._refs = refs
        self._models = models
        self.shadow_share = shadow_share
        self.canary_share = canary_share
        # A SimpleQueue, bounded by its size when put: put and get are a few hundred nanoseconds, and the
        # put runs on the group commit's thread, on the path of every answer.
        self._queue: queue.SimpleQueue[_Shadow | None] = queue.SimpleQueue()
        self._queue_size = queue_size
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._names: dict[str, str | None] = {}
        """Model references seen: the name when the reference is name@champion, else None."""
        self._absent: dict[str, tuple[int, float]] = {}
        """Names found without a challenger: the registry's version then, and until when that is believed
        (monotonic time); an alias set by this process since (the registry's version moved) ends it at once."""

    # -- which requests --------------------------------------------------------------------------
    def champion_of(self, model_ref: str) -> str | None:
        """The name when `model_ref` is name@champion (a cached parse), else None."""
        try:
            return self._names[model_ref]
        except KeyError:
            pass
        try:
            parsed = ModelRef.parse(model_ref)
        except Exception:
            return None
        name = parsed.name if parsed.alias == CHAMPION else None
        if len(self._names) < 10_000:
            self._names[model_ref] = name
        return name

    def _has_challenger(self, name: str) -> bool:
        absent = self._absent.get(name)
        return absent is None or absent[0] != self._store.registry_version or time.monotonic() >= absent[1]

    def _found_absent(self, name: str) -> None:
        self._absent[name] = (self._store.registry_version, time.monotonic() + REF_TTL_S)

    def canary_ref(self, model_ref: str, record_id: str) -> str | None:
        """name@challenger when this request on name@champion is one of the canary share, else None."""
        if self.canary_share <= 0.0:
            return None
        name = self.champion_of(model_ref)
        if name is None or not picked(record_id, self.canary_share, "canary") or not self._has_challenger(name):
            return None
        return f"{name}@{CHALLENGER}"

    def canary(self, model_ref: str, inputs: ScoreInputs, asked: Asked) -> tuple[ScoringModel, ScoreInputs] | None:
        """The challenger that answers this request instead of the champion (`canary_ref`), in memory, with
        its inputs of the request's records (under the champion's ids); None (the champion answers) when
        the request is not a canary or the challenger cannot answer it."""
        if self.canary_share <= 0.0 or not inputs.record_ids:
            return None
        ref = self.canary_ref(model_ref, inputs.record_ids[0])
        if ref is None:
            return None
        try:
            challenger, reason = self._refs.resolve(ref)
            model = challenger.model
            self._models.scorer(model.artifact_sha256, model.artifact_format, 1, model.twin_sha256)
            theirs = asked.inputs(self._store, challenger)
        except NotFound:
            self._found_absent(ref.partition("@")[0])
            return None
        except Exception:  # a challenger that cannot answer never keeps the champion from answering
            log.warning("the canary %s cannot answer; the champion does", ref, exc_info=True)
            return None
        if reason is not None or len(theirs.record_ids) != len(inputs.record_ids):
            return None
        return challenger, same_records(theirs, inputs.record_ids, inputs.frames)

    def canary_fresh(
        self, ref: str, records: list[dict[str, Any]], inputs: ScoreInputs
    ) -> tuple[ScoringModel, ScoreInputs] | None:
        """`canary` on the hot path: the challenger `ref` if it was resolved lately, with its inputs of a few
        plain records; None when that needs a read (`canary` then does it)."""
        answer = self._refs.fresh(ref)
        if answer is None or answer[1] is not None:
            return None
        theirs = plain_inputs(answer[0], records)
        if theirs is None or len(theirs.record_ids) != len(inputs.record_ids):
            return None
        return answer[0], same_records(theirs, inputs.record_ids, inputs.frames)

    # -- the shadow --------------------------------------------------------------------------------
    def shadow(self, model_ref: str, batch: ScoreBatch, scoring: ScoringModel, inputs: ScoreInputs, asked: Asked,
               user: str, request_id: str | None) -> None:  # fmt: skip
        """Queue a committed batch of name@champion (scored by `scoring` from `inputs`) for the challenger,
        when this request is in the shadow share; never blocks (a full queue drops it, counted)."""
        if self.shadow_share <= 0.0 or batch.role is not None or batch.fallback_reason is not None:
            return
        name = self.champion_of(model_ref)
        if name is None or not inputs.record_ids or not self._has_challenger(name):
            return
        if not picked(inputs.record_ids[0], self.shadow_share, "shadow"):
            return
        item = _Shadow(name, batch.id, inputs, scoring.pipeline.signature, asked, batch.source, user, request_id)
        if self._thread is None:
            self._start()
        if self._queue.qsize() >= self._queue_size:
            metrics.shadow_dropped(name, len(inputs.record_ids))
            return
        self._queue.put(item)

    def close(self, timeout: float = 30.0) -> None:
        """Score and write what is queued, then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        # Behind what is queued: the thread scores and writes it all (ending the window it gathers at
        # once), then ends.
        self._queue.put(None)
        self._stopping.set()
        thread.join(timeout)
        self._stopping.clear()

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="crispml-shadow", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            # Let the window fill, then take it all: one wake-up per window, not one per request.
            if self._queue.qsize() < _GROUP:
                self._stopping.wait(_GATHER_S)
            items = [first]
            while len(items) < _GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                items.append(more)
            try:
                self._score(items)
            except Exception:
                log.exception("shadow scoring of %d batches failed", len(items))
                metrics.shadow_dropped(items[0].name, sum(len(i.record_ids) for i in items))

    def _score(self, items: list[_Shadow]) -> None:
        """Score the queued requests by their name's challenger (one call per challenger) and append them
        as shadow batches with one commit."""
        by_name: dict[str, list[_Shadow]] = {}
        for item in items:
            by_name.setdefault(item.name, []).append(item)
        written: list[NewScoreBatch] = []
        for name, same in by_name.items():
            try:
                challenger, reason = self._refs.resolve(f"{name}@{CHALLENGER}")
            except NotFound:
                self._found_absent(name)
                continue
            except ModelUnavailable:
                log.warning("the challenger of %s cannot be loaded; its shadow scores are dropped", name)
                metrics.shadow_dropped(name, sum(len(i.record_ids) for i in same))
                continue
            if reason is not None:
                continue
            written.extend(self._scored(challenger, same))
        if written:
            self._store.write_grouped(BatchesWrite(tuple(written)))
            rows: dict[str, int] = {}
            for new in written:
                rows[new.batch.model_ref] = rows.get(new.batch.model_ref, 0) + new.batch.rows
            for model_ref, count in rows.items():
                metrics.shadow_scored(model_ref, count)

    def _scored(self, challenger: ScoringModel, items: list[_Shadow]) -> list[NewScoreBatch]:
        model = challenger.model
        inputs, kept = [], []
        for item in items:
            if item.pipeline == challenger.pipeline.signature:  # the same features: no second reading
                inputs.append(item.inputs)
                kept.append(item)
                continue
            try:
                found = item.asked.inputs(self._store, challenger)
            except Exception as exc:  # e.g. records without a column only the challenger needs
                log.warning("the challenger %s cannot score batch %s: %s", model.ref, item.batch_id, exc)
                metrics.shadow_dropped(item.name, len(item.record_ids))
                continue
            if len(found.record_ids) == len(item.record_ids):
                inputs.append(same_records(found, item.record_ids, item.inputs.frames))
                kept.append(item)
        if not kept:
            return []
        # One shadow batch per source and user: the window's requests scored together are written
        # together (a batch row and an audit event for each request cost the hot path as much again).
        pairs = sorted(zip(kept, inputs, strict=True), key=_source_and_user)
        inputs = [x for _, x in pairs]
        rows = sum(len(x.record_ids) for x in inputs)
        scorer = self._models.scorer(model.artifact_sha256, model.artifact_format, rows, model.twin_sha256)
        features = np.concatenate([x.features for x in inputs]) if len(inputs) > 1 else inputs[0].features
        score = scorer.positive(features, model.threshold)
        every = scored_together(inputs, score, model.threshold)
        written, start, created_at = [], 0, now()
        for (source, user), group in groupby(pairs, key=_source_and_user):
            same = list(group)
            end = start + sum(len(x.record_ids) for _, x in same)
            records = every.page(start, end)
            together = ScoreInputs(records.record_ids, records.frames, features[start:end])
            start = end
            batch = ScoreBatch(
                id=new_id("sb"),
                model_version_id=model.id,
                model_ref=model.ref,
                idempotency_key=None,
                source=source,
                rows=len(records.record_ids),
                created_at=created_at,
                role=SHADOW,
                shadow_of=tuple(item.batch_id for item, _ in same),
            )
            # The HTTP request, when one alone asked (each champion batch names its own).
            request_ids = {item.request_id for item, _ in same}
            request_id = request_ids.pop() if len(request_ids) == 1 else None
            digest = request_digest(model, source, together)
            written.append(NewScoreBatch(batch, records, digest, user, model.threshold, request_id))
        return written


def _source_and_user(pair: tuple[_Shadow, ScoreInputs]) -> tuple[str, str]:
    """What one shadow batch shares: the source its records came from and who asked."""
    return pair[0].source, pair[0].user
