"""The input log's buffer and files: every record written once, under its model version and hour."""

from __future__ import annotations

import gc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from crispml.storage.input_log import InputLog

NAMES = ["V1", "V2"]


def _files(root: Path, model_version_id: str) -> dict[str, pd.DataFrame]:
    """Each hour's records of a model version, read back from its Parquet files."""
    hours: dict[str, pd.DataFrame] = {}
    for path in sorted((root / model_version_id).glob("*/*.parquet")):
        frame = pd.read_parquet(path)
        hours[path.parent.name] = pd.concat([hours[path.parent.name], frame]) if path.parent.name in hours else frame
    return hours


def test_batches_are_written_per_model_version_and_hour_with_every_record(tmp_path: Path) -> None:
    log = InputLog(tmp_path, retention_h=1_000)
    earlier = datetime(2026, 11, 30, 9, 59, 59, 500_000, tzinfo=UTC)
    later = earlier + timedelta(seconds=1)
    log.append("mv-1", NAMES, np.array([[1.0, 2.0], [3.0, 4.0]]), ["a", "b"], [0.1, 0.2], at=earlier)
    log.append("mv-2", NAMES, np.array([[5.0, 6.0]]), ["c"], np.array([0.3]), at=earlier)
    log.append("mv-1", NAMES, np.array([[7.0, 8.0]]), ["d"], [0.4], at=later)

    assert log.flush() == 4
    first = _files(tmp_path, "mv-1")
    assert sorted(first) == ["2026-11-30T09", "2026-11-30T10"]
    assert first["2026-11-30T09"][["record_id", "score", "V1", "V2"]].to_dict(orient="records") == [
        {"record_id": "a", "score": 0.1, "V1": 1.0, "V2": 2.0},
        {"record_id": "b", "score": 0.2, "V1": 3.0, "V2": 4.0},
    ]
    assert first["2026-11-30T09"]["scored_at"].tolist() == [pd.Timestamp(earlier)] * 2
    assert first["2026-11-30T10"][["record_id", "score"]].to_dict(orient="records") == [
        {"record_id": "d", "score": 0.4}
    ]
    assert first["2026-11-30T10"]["scored_at"].tolist() == [pd.Timestamp(later)]
    (second,) = _files(tmp_path, "mv-2").values()
    assert second[["record_id", "score", "V1", "V2"]].to_dict(orient="records") == [
        {"record_id": "c", "score": 0.3, "V1": 5.0, "V2": 6.0}
    ]
    assert log.flush() == 0  # written once


def test_batches_of_one_version_with_other_feature_names_keep_their_own_columns(tmp_path: Path) -> None:
    log = InputLog(tmp_path, retention_h=1_000)
    log.append("mv-1", NAMES, np.array([[1.0, 2.0]]), ["a"], [0.1])
    log.append("mv-1", ["Amount"], np.array([[9.5]]), ["b"], [0.2])
    log.append("mv-1", list(NAMES), np.array([[3.0, 4.0]]), ["c"], [0.3])  # equal names, another list

    assert log.flush() == 3
    frames = [pd.read_parquet(path) for path in (tmp_path / "mv-1").glob("*/*.parquet")]
    by_columns = {
        tuple(c for c in frame.columns if c not in ("scored_at", "record_id", "score")): frame for frame in frames
    }
    assert by_columns[("V1", "V2")]["record_id"].tolist() == ["a", "c"]
    assert by_columns[("Amount",)][["record_id", "Amount"]].to_dict(orient="records") == [
        {"record_id": "b", "Amount": 9.5}
    ]


def test_a_full_buffer_drops_the_batch_and_counts_it(tmp_path: Path) -> None:
    dropped: list[int] = []
    log = InputLog(tmp_path, retention_h=1_000, buffer_rows=3, on_drop=dropped.append)
    log.append("mv-1", NAMES, np.zeros((2, 2)), ["a", "b"], [0.1, 0.2])
    log.append("mv-1", NAMES, np.zeros((2, 2)), ["c", "d"], [0.3, 0.4])  # 4 > 3: dropped whole
    log.append("mv-1", NAMES, np.zeros((1, 2)), ["e"], [0.5])

    assert (log.dropped, dropped) == (2, [2])
    assert log.flush() == 3
    (frame,) = _files(tmp_path, "mv-1").values()
    assert frame["record_id"].tolist() == ["a", "b", "e"]


def test_waiting_batches_add_no_object_the_garbage_collector_tracks(tmp_path: Path) -> None:
    # Each batch used to wait as a tuple, a tuple of its names and two lists (4,000 here), which a busy
    # server's collections traversed again and again until the write.
    log = InputLog(tmp_path, retention_h=1_000)
    features = np.zeros((1, 2))
    log.append("mv-1", NAMES, features, ["first"], [0.5])  # the version's columns exist from here
    gc.disable()
    try:
        before = len(gc.get_objects())
        for i in range(1_000):
            log.append("mv-1", NAMES, features, [f"r{i}"], [0.5])
        grown = len(gc.get_objects()) - before
    finally:
        gc.enable()
    assert grown < 10, f"{grown} tracked objects for 1,000 waiting batches"
    assert log.flush() == 1_001
