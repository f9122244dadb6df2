"""The rows of a new dataset version at each stage, built from the rows of the one before.

`raw_frame` turns a source's rows into a raw dataset (record ids, time frames, a sample); `curated_frame`
fits a curation on some frames and applies it to all. Services read and store; these only compute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import PurePath
from typing import Any

import pandas as pd

from crispml.domain import FRAME, RECORD_ID, SourceSpec
from crispml.errors import InvalidInput
from crispml.steps import ingest as ingest_step
from crispml.steps import record_ids
from crispml.steps.curate import SCALED_ALGORITHMS, Curation, apply_curation, fit_curation


@dataclass(frozen=True)
class RawFrame:
    """A raw dataset's rows (record_id, frame, then the source's columns) and what ingestion learnt."""

    rows: pd.DataFrame
    features: list[str]
    frames_present: list[int]
    stats: list[dict[str, Any]]


def raw_frame(
    source: pd.DataFrame,
    *,
    target: str,
    key: str | None,
    time_column: str | None,
    slices: int,
    percent_data: float,
    seed: int,
) -> RawFrame:
    """Check the source's columns, make the target 0/1, cut `slices` frames, key every row, then sample."""
    frame = source
    frame.columns = [str(c) for c in frame.columns]
    ingest_step.check_columns(frame, target, key, time_column)
    frame[target] = ingest_step.binary_target(frame[target])
    frames = ingest_step.assign_frames(frame, slices, time_column)
    ids = record_ids.key_ids(frame, key) if key else record_ids.frame_ids(frame.drop(columns=[target]))
    payload = frame.drop(columns=[key]) if key else frame
    payload.insert(0, FRAME, frames)
    payload.insert(0, RECORD_ID, ids)
    payload = ingest_step.sample(payload, percent_data, seed)
    present = sorted(set(payload[FRAME].unique().tolist()))
    features = [c for c in payload.columns if c not in (RECORD_ID, FRAME, target)]
    stats = [asdict(s) for s in ingest_step.summarize(payload, [*features, target])]
    return RawFrame(payload, features, present, stats)


@dataclass(frozen=True)
class CuratedFrame:
    """A curated dataset's rows, the curation fitted, and its report."""

    rows: pd.DataFrame
    curation: Curation
    report: dict[str, Any]


def curated_frame(
    frame: pd.DataFrame, features: list[str], algorithm: str, fit_frames: list[int], what: str
) -> CuratedFrame:
    """Fit `algorithm`'s curation on `fit_frames` of `frame` (`what` names it in errors), apply it to all rows."""
    training = frame[frame[FRAME].isin(fit_frames)]
    if training.empty:
        raise InvalidInput(f"frames {fit_frames} of {what} hold no rows", field="frames")
    curation = fit_curation(training, features, algorithm, fit_frames)
    curated = frame.copy()
    curated[features] = apply_curation(frame[features], curation)
    report = {
        "algorithm": algorithm,
        "fit_frames": fit_frames,
        "log1p": curation.log1p,
        "standardised": sorted(curation.center),
        "unchanged": algorithm not in SCALED_ALGORITHMS,
    }
    return CuratedFrame(curated, curation, report)


def default_name(source: SourceSpec) -> str:
    """A dataset name from a source: a file's stem, the table's name, or the pool dataset's name."""
    if source.pool:
        return source.pool.replace("@", "/").split("/")[0]
    if source.path:
        stem = PurePath(source.path).name.split(".")[0]
        cleaned = "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in stem)
        return cleaned if cleaned[:1].isalpha() else f"d{cleaned}"
    return (source.table or "query").split(".")[-1]
