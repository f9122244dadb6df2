"""Scoring-side methods through the Python API: the ledger, late labels and verification."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import crispml
from crispml.domain import FRAME, RECORD_ID
from crispml.errors import Conflict, InvalidInput
from crispml.local import Crispml
from crispml.services import model_refs
from tests.conftest import FAST_RF, SMALL_ROWS

HALF = SMALL_ROWS // 2


def count_scores(cml: Crispml) -> int:
    with cml.store.transaction() as repo:
        return repo.ledger.count()


def test_dataset_scores_are_persisted_before_they_are_returned(trained: Crispml) -> None:
    result = trained.score("fraud@champion", dataset="ccf", frames="7-12")
    assert result.batch.model_ref == "fraud/1" and result.batch.rows == HALF
    assert count_scores(trained) == HALF
    scores = result.scores
    assert scores[RECORD_ID].is_unique and set(scores["frame"]) == set(range(7, 13))
    assert ((scores["score"] >= 0) & (scores["score"] <= 1)).all()
    assert (scores["decision"] == (scores["score"] >= 0.5)).all()
    with trained.store.transaction() as repo:
        stored = repo.ledger.batch_scores(result.batch.id)
    assert stored.record_ids == scores[RECORD_ID].tolist()
    assert stored.scores == scores["score"].tolist()  # exactly the floats answered
    assert stored.frames == scores["frame"].tolist() and stored.decisions == scores["decision"].tolist()


def test_raw_and_curated_datasets_score_alike(trained: Crispml) -> None:
    from_raw = trained.score("fraud/1", dataset="ccf", frames="7").scores
    from_curated = trained.score("fraud/1", dataset="ccf-cur", frames="7").scores
    merged = from_raw.merge(from_curated, on=RECORD_ID)
    assert len(merged) == len(from_curated) > 0
    assert np.allclose(merged["score_x"], merged["score_y"])


def test_records_and_files_score_like_the_dataset(trained: Crispml, small_csv: Path, tmp_path: Path) -> None:
    raw = pd.read_csv(small_csv)
    frame7 = trained.score("fraud@champion", dataset="ccf", frames="7").scores.set_index(RECORD_ID)
    sample = raw.iloc[HALF : HALF + 50]
    records = sample.drop(columns="Class").to_dict("records")
    from_records = trained.score("fraud@champion", records=records).scores.set_index(RECORD_ID)
    assert set(from_records.index) <= set(frame7.index)  # content-derived ids meet the dataset's
    assert np.allclose(from_records["score"], frame7.loc[from_records.index, "score"])
    assert from_records["frame"].isna().all()
    path = tmp_path / "new.csv"
    sample.to_csv(path, index=False)
    from_file = trained.score("fraud@champion", file=str(path)).scores.set_index(RECORD_ID)
    assert np.allclose(from_file.loc[from_records.index, "score"], from_records["score"])


def test_explicit_record_ids_are_kept(trained: Crispml, small_csv: Path) -> None:
    records = pd.read_csv(small_csv).head(3).drop(columns="Class")
    records.insert(0, RECORD_ID, ["a-1", "a-2", "a-3"])
    result = trained.score("fraud@champion", records=records.to_dict("records"))
    assert result.scores[RECORD_ID].tolist() == ["a-1", "a-2", "a-3"]


def test_idempotency_key_never_writes_twice(trained: Crispml) -> None:
    first = trained.score("fraud@champion", dataset="ccf", frames="7", idempotency_key="nightly-7")
    again = trained.score("fraud@champion", dataset="ccf", frames="7", idempotency_key="nightly-7")
    assert again.replayed and not first.replayed
    assert again.batch.id == first.batch.id
    assert count_scores(trained) == len(first.scores)
    assert np.allclose(again.scores["score"].to_numpy(), first.scores["score"].to_numpy())
    with pytest.raises(Conflict, match="nightly-7"):
        trained.score("fraud@champion", dataset="ccf", frames="8", idempotency_key="nightly-7")
    assert count_scores(trained) == len(first.scores)


def test_an_idempotent_retry_of_records_replays_and_other_values_conflict(trained: Crispml, small_csv: Path) -> None:
    records = pd.read_csv(small_csv).iloc[HALF : HALF + 20].drop(columns="Class")
    records.insert(0, RECORD_ID, [f"k-{i}" for i in range(20)])
    first = trained.score("fraud@champion", records=records.to_dict("records"), idempotency_key="batch-k")
    again = trained.score("fraud@champion", records=records.to_dict("records"), idempotency_key="batch-k")
    assert again.replayed and again.batch.id == first.batch.id
    changed = records.assign(Amount=records["Amount"] + 1)  # the same ids, other values
    with pytest.raises(Conflict, match="batch-k"):
        trained.score("fraud@champion", records=changed.to_dict("records"), idempotency_key="batch-k")
    assert count_scores(trained) == 20


def test_a_retry_matches_a_batch_written_with_the_earlier_request_digest(
    trained: Crispml, small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches written before the XXH3 digest hold SHA-256 of the whole matrix; their retries still replay
    (without the fallback in `_replay` this retry would be refused as a different request)."""
    from crispml.services import score_inputs, scoring

    records = pd.read_csv(small_csv).iloc[HALF : HALF + 30].drop(columns="Class").to_dict("records")
    with monkeypatch.context() as earlier:  # as crispml wrote batches before
        earlier.setattr(scoring, "request_digest", score_inputs.legacy_request_digest)
        first = trained.score("fraud@champion", records=records, idempotency_key="before-upgrade")
    again = trained.score("fraud@champion", records=records, idempotency_key="before-upgrade")
    assert again.replayed and again.batch.id == first.batch.id
    with pytest.raises(Conflict, match="before-upgrade"):
        trained.score("fraud@champion", records=records[:29], idempotency_key="before-upgrade")
    assert count_scores(trained) == 30


def test_labels_from_a_dataset_and_unknown_ids_are_counted(trained: Crispml, tmp_path: Path) -> None:
    trained.score("fraud@champion", dataset="ccf", frames="7-12")
    imported = trained.label(dataset="ccf", frames="7-12")
    assert imported.imported == HALF and imported.unknown == 0
    rows = trained.lifecycle.dataset_frame("ccf")
    assert imported.positives == int(rows[rows[FRAME] >= 7]["Class"].sum())
    path = tmp_path / "late.csv"
    pd.DataFrame(
        {"record_id": ["never-scored-1", "never-scored-2", rows[RECORD_ID].iloc[-1]], "label": [1, 0, 1]}
    ).to_csv(path, index=False)
    late = trained.label(file=str(path))
    assert (late.imported, late.unknown) == (3, 2)
    assert sorted(late.unknown_sample) == ["never-scored-1", "never-scored-2"]
    with trained.store.transaction() as repo:
        assert repo.labels.count() == HALF + 2  # the known record was upserted, not duplicated


def test_a_later_import_replaces_every_label_it_names(trained: Crispml) -> None:
    scored = trained.score("fraud@champion", dataset="ccf", frames="7-12")
    first = trained.label(dataset="ccf", frames="7-12")
    rows = trained.lifecycle.dataset_frame("ccf")
    later = rows[rows[FRAME] >= 7]
    flipped = [{"record_id": r, "label": 1 - int(v)} for r, v in zip(later[RECORD_ID], later["Class"], strict=True)]
    assert len(flipped) == HALF > 200  # large enough for the bulk path (COPY on PostgreSQL)
    second = trained.label(records=flipped)
    assert second.positives == HALF - first.positives and second.unknown == 0
    with trained.store.transaction() as repo:
        assert repo.labels.count() == HALF
        ledger = repo.ledger.joined_labels([scored.batch.model_version_id], None)
    stored = dict(zip(ledger["record_id"], ledger["label"].astype(int), strict=True))
    assert stored == {row["record_id"]: row["label"] for row in flipped}


def test_labels_with_bad_values_are_refused(trained: Crispml, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pd.DataFrame({"id": ["a"], "truth": ["yes"]}).to_csv(path, index=False)
    with pytest.raises(InvalidInput, match="lack column 'record_id'"):
        trained.label(file=str(path))
    with pytest.raises(InvalidInput, match="'truth' must hold 0 or 1"):
        trained.label(file=str(path), id_column="id", label_column="truth")


def test_verify_joins_ledger_and_labels_per_frame(trained: Crispml) -> None:
    trained.score("fraud@champion", dataset="ccf", frames="7-12")
    before = trained.verify("fraud@champion", frames="7-12").rows
    assert [r["frame"] for r in before] == [7, 8, 9, 10, 11, 12, "all"]
    assert all(r["labelled"] == 0 and r["unlabelled"] == r["scored"] for r in before)
    trained.label(dataset="ccf", frames="7-9")
    rows = {r["frame"]: r for r in trained.verify("fraud@champion", frames="7-12").rows}
    assert rows[7]["labelled"] == rows[7]["scored"] == SMALL_ROWS // 12 and rows[10]["labelled"] == 0
    assert rows["all"]["scored"] == HALF and rows["all"]["labelled"] == HALF // 2
    # With all truth in, verification reproduces the training report on the same frames.
    trained.label(dataset="ccf", frames="10-12")
    model = trained.lifecycle.get_model("fraud@champion")
    for row in trained.verify("fraud@champion", frames="7-12").rows:
        reference = model.metrics["overall"] if row["frame"] == "all" else model.metrics["per_frame"][str(row["frame"])]
        assert row["report_roc_auc"] == reference["roc_auc"]
        assert row["roc_auc"] == pytest.approx(reference["roc_auc"])
        assert row["confusion"] == reference["confusion"]


def test_verify_counts_a_rescored_record_once(trained: Crispml) -> None:
    trained.score("fraud@champion", dataset="ccf", frames="7")
    trained.score("fraud@champion", dataset="ccf", frames="7")
    rows = trained.verify("fraud@champion", frames="7").rows
    assert rows[0]["scored"] == SMALL_ROWS // 12


def test_record_ids_that_look_like_numbers_stay_text(trained: Crispml, tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    path.write_text("record_id,label\n12e45,1\n007,0\n")
    report = trained.label(file=str(path))
    assert sorted(report.unknown_sample) == ["007", "12e45"]
    assert trained.verify("fraud@champion").rows == []  # nothing scored yet: no rows, and no error


def test_alias_moves_reach_scoring_at_once_here_and_within_the_reuse_window_elsewhere(
    trained: Crispml, home: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(model_refs, "REF_TTL_S", 0.5)
    record = trained.lifecycle.dataset_frame("ccf").drop(columns=["Class", FRAME, RECORD_ID]).head(1)
    assert trained.score("fraud@champion", records=record).batch.model_ref == "fraud/1"

    with crispml.connect(home=home, database_url=database_url) as other:  # another process, in effect
        curated = trained.lifecycle.get_model("fraud/1").dataset_id
        other.train(curated, algorithm="rf", frames="1-6", weight=10, name="fraud", params=FAST_RF)
        other.persist("fraud/2", alias="champion")
    time.sleep(0.6)
    assert trained.score("fraud@champion", records=record).batch.model_ref == "fraud/2"

    trained.persist("fraud/1", alias="champion")  # a move made here is seen here at once
    assert trained.score("fraud@champion", records=record).batch.model_ref == "fraud/1"
    assert trained.score("fraud", records=record).batch.model_ref == "fraud/2"  # the newest version


def test_a_model_of_data_from_before_record_id_schemes_scores_with_the_legacy_ids(
    trained: Crispml, small_csv: Path, home: Path, database_url: str | None
) -> None:
    from sqlalchemy import select, update

    from crispml.steps.record_ids import LEGACY, SCHEME, frame_ids
    from crispml.storage.schema import datasets

    raw = pd.read_csv(small_csv).drop(columns=["Class"]).iloc[:3]
    new_ids = [
        s["record_id"] for s in trained.score("fraud@champion", records=raw.to_dict("records")).records.as_dicts()
    ]
    assert new_ids == frame_ids(raw, SCHEME)
    # A store written before schemes were recorded: its datasets carry no scheme.
    with trained.store.transaction() as uow:
        for row in uow.connection.execute(select(datasets.c.id, datasets.c.params)).all():
            params = {k: v for k, v in row.params.items() if k != "record_id_scheme"}
            uow.connection.execute(update(datasets).where(datasets.c.id == row.id).values(params=params))
    with crispml.connect(home=home, database_url=database_url) as older:  # a process that reads them anew
        old_ids = older.score("fraud@champion", records=raw.to_dict("records")).records.record_ids
        one_id = older.score("fraud@champion", records=raw.to_dict("records")[:1]).records.record_ids
    assert old_ids == frame_ids(raw, LEGACY) != new_ids
    assert one_id == old_ids[:1]  # plain numbers, scored without pandas, agree
