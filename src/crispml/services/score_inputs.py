"""What a score request reads: records, a file or a dataset's frames -> record ids, frames, one feature matrix."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import xxhash

from crispml.domain import FRAME, RECORD_ID, ModelVersion, SourceSpec
from crispml.domain.refs import parse_frames
from crispml.errors import InvalidInput
from crispml.ports import Storage
from crispml.services.model_refs import ScoringModel
from crispml.steps import record_ids
from crispml.steps.columns import arrow_numbers, plain_numbers, refuse_missing
from crispml.steps.fast_path import SMALL
from crispml.steps.pipeline import FeaturePipeline, remaining_steps
from crispml.storage.sources import read_source


@dataclass(frozen=True)
class ScoreInputs:
    """Record ids, frames (None where unknown) and the feature matrix, row for row."""

    record_ids: list[str]
    frames: list[int | None]
    features: np.ndarray
    imputed: tuple[str, ...] = ()
    """Columns whose missing values the model's missing-value policy filled (gaps it does not fill are refused)."""


def plain_inputs(scoring: ScoringModel, records: list[dict[str, Any]] | pd.DataFrame | None) -> ScoreInputs | None:
    """Record ids and features of a few records of plain numbers, without pandas (the hot path).

    None sends the records the frame way (`record_inputs`): too many, frames given, text, gaps, or ids
    that are not all present, unique text or integers. For records taken here both ways give the same
    ids and features; the frame way also names whatever it refuses.
    """
    if not isinstance(records, list) or not 0 < len(records) < SMALL:
        return None
    if not all(isinstance(r, dict) and FRAME not in r for r in records):
        return None
    pipeline = scoring.pipeline
    raw = plain_numbers(records, pipeline.input_columns)
    if raw is None:
        return None
    id_column = RECORD_ID if any(RECORD_ID in r for r in records) else scoring.key
    if id_column is None:
        ids = record_ids.matrix_ids(raw, scoring.id_scheme)
    else:
        given = [r.get(id_column) for r in records]
        if not all(type(i) is int or (type(i) is str and i.strip()) for i in given):
            return None
        ids = [str(i) for i in given]
        if len(set(ids)) != len(ids):
            return None
    return ScoreInputs(ids, [None] * len(ids), pipeline.transform_inputs(raw))


def record_inputs(scoring: ScoringModel, raw: pd.DataFrame) -> ScoreInputs:
    """Record ids (and frames, when given) beside the model's feature matrix for raw records."""
    raw.columns = [str(c) for c in raw.columns]
    needed, key = scoring.pipeline.input_columns, scoring.key
    missing = [c for c in needed if c not in raw.columns]
    if missing:
        raise InvalidInput(f"records lack column {missing[0]!r} (needed: {', '.join(missing)})", field=missing[0])
    if RECORD_ID in raw.columns:
        ids = record_ids.key_ids(raw, RECORD_ID)
    elif key is not None and key in raw.columns:
        ids = record_ids.key_ids(raw, key)
    elif key is not None:
        raise InvalidInput(f"records lack the key column {key!r} the model's data was keyed by", field=key)
    else:
        # The same content hash ingestion derives, over the same columns in the same order.
        ids = record_ids.frame_ids(raw[needed], scoring.id_scheme)
    frames: list[int | None] = [None] * len(raw)
    if FRAME in raw.columns:
        given = pd.to_numeric(raw[FRAME], errors="coerce").astype("Int64")
        frames = given.astype(object).where(given.notna(), None).tolist()
    features = scoring.pipeline.transform_frame(raw)  # refuses the gaps the model's policy does not fill
    numeric = [c for c in scoring.pipeline.numeric_columns if c in raw.columns]
    gaps = raw[numeric].isna().any()  # one vectorised pass; the frame path only (the hot path has no gaps)
    return ScoreInputs(ids, frames, features, tuple(gaps.index[gaps.to_numpy()]))


def table_inputs(scoring: ScoringModel, table: pa.Table) -> ScoreInputs:
    """`record_inputs` of an Arrow table, without a frame or a Python object per value when its
    columns are numbers without gaps (the usual bulk request): the same ids and features either way."""
    if table.num_rows == 0:
        raise InvalidInput("there are no records to score", field="records")
    pipeline, key, names = scoring.pipeline, scoring.key, set(table.column_names)
    refuse_missing([c for c in pipeline.input_columns if c not in names])
    matrix = None if FRAME in names else arrow_numbers(table, pipeline.input_columns)
    if matrix is None:
        return record_inputs(scoring, table.to_pandas())
    id_column = RECORD_ID if RECORD_ID in names else key
    if id_column is None:
        ids = record_ids.matrix_ids(matrix, scoring.id_scheme)
    elif id_column in names:
        ids = record_ids.key_ids(table.select([id_column]).to_pandas(), id_column)
    else:
        raise InvalidInput(f"records lack the key column {key!r} the model's data was keyed by", field=key)
    return ScoreInputs(ids, [None] * len(ids), pipeline.transform_inputs(matrix))


def dataset_inputs(
    store: Storage, model: ModelVersion, dataset_ref: str, frames: str | list[int] | None
) -> tuple[ScoreInputs, str, str]:
    """The inputs of a dataset's frames, the source text and the request digest.

    A dataset version is immutable and content-addressed, so the request is identified by the
    model, the dataset's sha256 and the frames, without hashing its rows.
    """
    with store.reading() as uow:
        dataset = uow.datasets.get(dataset_ref)
    chosen = parse_frames(frames, dataset.frames)
    pipeline = FeaturePipeline(remaining_steps(model.pipeline, dataset.params.get("pipeline", [])), model.features)
    missing = [c for c in pipeline.input_columns if c not in dataset.columns]
    if missing:
        raise InvalidInput(
            f"dataset {dataset.name}/{dataset.version} lacks column {missing[0]!r} the model needs",
            field=missing[0],
        )
    table = store.read_table(dataset.sha256, columns=[RECORD_ID, FRAME, *pipeline.input_columns], frames=chosen)
    if table.num_rows == 0:
        raise InvalidInput(f"frames {list(chosen)} of {dataset.name}/{dataset.version} hold no rows", field="frames")
    # The usual case: ingestion stored numbers, so no frame is needed.
    plain = arrow_numbers(table, pipeline.numeric_columns)
    features = pipeline.transform_frame(table.to_pandas()) if plain is None else pipeline.transform_numbers(plain)
    request = hashlib.sha256(json.dumps([model.id, "dataset", dataset.sha256, list(chosen)]).encode())
    inputs = ScoreInputs(table.column(RECORD_ID).to_pylist(), table.column(FRAME).to_pylist(), features)
    return inputs, f"{dataset.name}/{dataset.version} frames {frames_text(chosen)}", request.hexdigest()


def read_records(
    file: str | None, records: list[dict[str, Any]] | pd.DataFrame | None, id_columns: tuple[str, ...]
) -> pd.DataFrame:
    """Records from a file (its `id_columns` read as text) or given as objects or a frame."""
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


def request_digest(model: ModelVersion, source: str, inputs: ScoreInputs) -> str:
    """Identifies a request by its model, source and content, for idempotency keys.

    SHA-256 over the model, source, frames and record ids, and over XXH3-128 of the feature matrix's
    bytes: hashing a 10,000-row matrix by SHA-256 took 1.7 ms of a bulk request, XXH3 takes 0.1 ms.
    A replay needs no more than that: it answers only the same key with the same content, and whoever
    could build a colliding matrix already holds the content itself. Batches written before this
    digest hold `legacy_request_digest`, which a retry still matches (`ScoringService._replay`).
    """
    digest = hashlib.sha256(orjson.dumps([_DIGEST_VERSION, model.id, source, inputs.frames]))
    digest.update("\n".join(inputs.record_ids).encode())
    digest.update(xxhash.xxh3_128_digest(np.ascontiguousarray(inputs.features, dtype=np.float64).data))
    return digest.hexdigest()


_DIGEST_VERSION = "request-2"


def legacy_request_digest(model: ModelVersion, source: str, inputs: ScoreInputs) -> str:
    """`request_digest` as batches written before 2026-11-30 hold it: SHA-256 of the whole matrix."""
    digest = hashlib.sha256(json.dumps([model.id, source, inputs.frames]).encode())
    digest.update("\n".join(inputs.record_ids).encode())
    digest.update(np.ascontiguousarray(inputs.features, dtype=np.float64).tobytes())
    return digest.hexdigest()


def frames_text(frames: tuple[int, ...]) -> str:
    """'1-6' for a run of frames, '1,3,5' otherwise."""
    if list(frames) == list(range(frames[0], frames[-1] + 1)):
        return f"{frames[0]}-{frames[-1]}" if len(frames) > 1 else str(frames[0])
    return ",".join(map(str, frames))
