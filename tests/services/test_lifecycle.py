"""Training-side methods through the Python API, on SQLite and PostgreSQL."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine

from crispml.domain import FRAME, RECORD_ID, SourceSpec, Stage
from crispml.errors import Conflict, InvalidInput, NotFound
from crispml.local import Crispml
from tests.conftest import FAST_RF, SMALL_ROWS


def source(path: Path | str) -> SourceSpec:
    return SourceSpec(path=str(path))


def test_ingest_cuts_frames_and_summarises_numeric_columns(cml: Crispml, small_csv: Path) -> None:
    dataset = cml.ingest(source(small_csv), name="ccf", slices=12)
    assert (dataset.name, dataset.version, dataset.stage) == ("ccf", 1, Stage.RAW)
    assert dataset.rows == SMALL_ROWS and dataset.frames == 12
    stats = {s["column"]: s for s in dataset.report["stats"]}
    assert set(stats) == {"Time", *[f"V{i}" for i in range(1, 29)], "Amount", "Class"}
    raw = pd.read_csv(small_csv)
    assert stats["Amount"]["max"] == pytest.approx(raw["Amount"].max())
    assert stats["Time"]["median"] == pytest.approx(raw["Time"].median())
    assert stats["V1"]["q1"] == pytest.approx(raw["V1"].quantile(0.25))

    rows = cml.lifecycle.dataset_frame(dataset.id)
    assert rows[FRAME].value_counts().sort_index().tolist() == [SMALL_ROWS // 12] * 12
    assert rows[RECORD_ID].is_unique
    # A second ingest is a new immutable version with the same content address.
    again = cml.ingest(source(small_csv), name="ccf")
    assert again.version == 2 and again.sha256 == dataset.sha256 and again.id != dataset.id


def test_percent_data_samples_with_seed_in_row_order(cml: Crispml, small_csv: Path) -> None:
    first = cml.ingest(source(small_csv), name="s", percent_data=0.1, seed=3)
    same = cml.ingest(source(small_csv), name="s", percent_data=0.1, seed=3)
    other = cml.ingest(source(small_csv), name="s", percent_data=0.1, seed=4)
    assert first.rows == SMALL_ROWS // 10
    assert first.sha256 == same.sha256 != other.sha256
    rows = cml.lifecycle.dataset_frame(first.id)
    assert rows[FRAME].is_monotonic_increasing and rows["Time"].is_monotonic_increasing


def test_zip_and_parquet_sources_match_csv(cml: Crispml, small_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(small_csv)
    archive = tmp_path / "creditcardfraud.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(small_csv, "creditcard.csv")
    parquet = tmp_path / "cc.parquet"
    frame.to_parquet(parquet)
    from_csv = cml.lifecycle.dataset_frame(cml.ingest(source(small_csv), name="a").id)
    for path in (archive, parquet):
        rows = cml.lifecycle.dataset_frame(cml.ingest(source(path), name="b").id)
        assert rows[RECORD_ID].tolist() == from_csv[RECORD_ID].tolist()
        assert np.allclose(rows["V5"], from_csv["V5"])


def test_ingest_from_a_postgresql_table(cml: Crispml, small_csv: Path, source_postgres_url: str) -> None:
    engine = create_engine(source_postgres_url)
    pd.read_csv(small_csv).head(1200).to_sql("transactions", engine, index=False)
    engine.dispose()
    cml.sources.add("warehouse", source_postgres_url)
    dataset = cml.ingest(SourceSpec(source="warehouse", table="transactions"), slices=12)
    assert dataset.name == "transactions" and dataset.rows == 1200 and dataset.frames == 12
    assert dataset.source == "source warehouse table transactions"
    with pytest.raises(NotFound, match="missing_table"):
        cml.ingest(SourceSpec(source="warehouse", table="missing_table"))
    queried = cml.ingest(SourceSpec(source="warehouse", query='SELECT * FROM transactions WHERE "Amount" > 10'))
    assert 0 < queried.rows < 1200


def test_key_column_becomes_record_id(cml: Crispml, tmp_path: Path) -> None:
    frame = pd.DataFrame({"txn": [f"t{i}" for i in range(24)], "x": range(24), "Class": [0, 1] * 12})
    path = tmp_path / "keyed.csv"
    frame.to_csv(path, index=False)
    dataset = cml.ingest(source(path), key="txn", slices=12)
    rows = cml.lifecycle.dataset_frame(dataset.id)
    assert rows[RECORD_ID].tolist() == frame["txn"].tolist()
    assert "txn" not in dataset.features
    frame.loc[3, "txn"] = "t0"
    frame.to_csv(path, index=False)
    with pytest.raises(InvalidInput, match="'txn' is not unique: 't0'"):
        cml.ingest(source(path), key="txn")


def test_prepare_reports_what_it_changed(cml: Crispml, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=48), "b": rng.normal(size=48), "Class": [0, 0, 0, 1] * 12})
    frame["constant"] = 5.0
    frame["text"] = frame["a"].round(3).astype(str)  # numbers stored as text
    frame.loc[[5, 6], "a"] = np.nan
    frame = pd.concat([frame, frame.iloc[[10, 11]]], ignore_index=True)  # two duplicates
    path = tmp_path / "dirty.csv"
    frame.to_csv(path, index=False)
    raw = cml.ingest(source(path), slices=2)
    prepared = cml.prepare(raw.id, missing="median")
    report = prepared.report
    assert report["duplicates_removed"] == 2
    assert report["values_filled"] == {"a": 2}
    assert report["constant_columns"] == ["constant"]
    assert report["rows_in"] == 50 and report["rows_out"] == 48
    assert "constant" not in prepared.features and "a" in prepared.features
    rows = cml.lifecycle.dataset_frame(prepared.id)
    assert rows["a"].notna().all()
    dropped = cml.prepare(raw.id, missing="drop", name="dropped")
    assert dropped.rows == 46
    with pytest.raises(InvalidInput, match="'sometimes'"):
        cml.prepare(raw.id, missing="sometimes")


def test_curate_fits_on_training_frames_only(cml: Crispml, small_csv: Path) -> None:
    prepared = cml.prepare(cml.ingest(source(small_csv), name="ccf").id)
    curated = cml.curate(prepared.id, algorithm="logreg", frames="1-6")
    assert curated.stage is Stage.CURATED and curated.report["log1p"] == ["Amount"]
    rows = cml.lifecycle.dataset_frame(curated.id)
    training = rows[rows[FRAME] <= 6]
    assert training["V1"].mean() == pytest.approx(0, abs=1e-9)
    assert training["V1"].std(ddof=0) == pytest.approx(1, abs=1e-9)
    assert abs(rows[rows[FRAME] > 6]["V1"].mean()) > 1e-6  # later frames are transformed, not refitted
    trees = cml.curate(prepared.id, algorithm="rf", name="ccf-trees")
    assert trees.report["unchanged"] is True
    with pytest.raises(InvalidInput, match="curated for logreg"):
        cml.train(curated.id, algorithm="rf", frames="1-6", name="mismatch")


@pytest.mark.parametrize("algorithm", ["rf", "hgb", "lgbm", "logreg"])
def test_every_algorithm_trains_reports_and_reloads(cml: Crispml, small_csv: Path, algorithm: str) -> None:
    prepared = cml.prepare(cml.ingest(source(small_csv), name="ccf").id)
    curated = cml.curate(prepared.id, algorithm=algorithm, frames="1-6")
    params = FAST_RF if algorithm == "rf" else {}
    model = cml.train(curated.id, algorithm=algorithm, frames="1-6", weight=10, name=f"m-{algorithm}", params=params)
    overall = model.metrics["overall"]
    assert model.metrics["frames"] == list(range(7, 13))
    assert overall["rows"] == SMALL_ROWS // 2 and overall["roc_auc"] > 0.85
    assert set(model.metrics["per_frame"]) == {str(f) for f in range(7, 13)}
    assert len(model.metrics["importance"]) == len(model.features)
    assert model.metrics["curves"]["roc"][0] == {"fpr": 0.0, "tpr": 0.0}
    # A report on chosen frames reloads the artifact (hash checked) and recomputes.
    chosen = cml.report(model.ref, frames="7-8", threshold=0.05)
    assert chosen["frames"] == [7, 8] and chosen["overall"]["rows"] == SMALL_ROWS // 6
    assert chosen["overall"]["threshold"] == chosen["per_frame"]["7"]["threshold"] == 0.05
    # Another threshold moves the confusion matrix and what follows from it, not the curves or AUCs.
    lowered = cml.report(model.ref, threshold=0.05)
    assert lowered["curves"] == model.metrics["curves"] and lowered["frames"] == model.metrics["frames"]
    assert lowered["overall"]["roc_auc"] == pytest.approx(overall["roc_auc"])
    assert lowered["overall"]["recall"] >= overall["recall"] and lowered["overall"]["threshold"] == 0.05


def test_training_is_seeded_and_reproducible(cml: Crispml, small_csv: Path) -> None:
    curated = cml.curate(cml.prepare(cml.ingest(source(small_csv)).id).id, algorithm="rf")
    first = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="a", params=FAST_RF, seed=5)
    second = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="a", params=FAST_RF, seed=5)
    assert second.version == 2
    assert first.metrics["overall"] == second.metrics["overall"]
    assert first.metrics["importance"] == second.metrics["importance"]


def test_persist_registers_and_moves_aliases(trained: Crispml) -> None:
    champion = trained.lifecycle.get_model("fraud@champion")
    assert champion.registered and champion.aliases == ("champion",)
    second = trained.train("ccf-cur", algorithm="rf", frames="1-6", weight=10, name="fraud", params=FAST_RF)
    assert not second.registered
    trained.persist(second.ref, alias="champion")
    trained.persist(champion.ref, alias="fallback")
    assert trained.lifecycle.get_model("fraud@champion").version == 2
    assert trained.lifecycle.get_model("fraud@fallback").version == 1
    assert trained.lifecycle.get_model("fraud").version == 2
    with pytest.raises(NotFound, match="fraud@nobody"):
        trained.lifecycle.get_model("fraud@nobody")


def test_lineage_runs_from_model_to_raw_source(trained: Crispml, small_csv: Path) -> None:
    chain = trained.lineage("fraud@champion")
    assert [n.kind for n in chain] == ["model", "dataset", "dataset", "dataset", "source"]
    assert [n.label for n in chain][:4] == ["fraud/1", "ccf-cur/1 (curated)", "ccf-prep/1 (prepared)", "ccf/1 (raw)"]
    assert chain[-1].label == str(small_csv)
    assert chain[0].detail["params"]["n_estimators"] == 20 and chain[0].detail["created_by"] == "tester"
    raw = trained.lifecycle.get_dataset("ccf")
    assert chain[-1].id == raw.source_sha256 and raw.params["slices"] == 12


def test_perf_records_every_method_with_outcome(trained: Crispml) -> None:
    with pytest.raises(NotFound):
        trained.prepare("does-not-exist")
    records, summaries = trained.operations.perf()
    methods = {s.method: s for s in summaries}
    assert {"ingest", "prepare", "curate", "train", "persist"} <= set(methods)
    assert methods["prepare"].errors == 1
    ingest = next(r for r in records if r.method == "ingest")
    assert ingest.rows_in == SMALL_ROWS and ingest.rows_out == SMALL_ROWS
    assert ingest.duration_s > 0 and ingest.peak_rss_mb > 10 and ingest.gc_runs >= 0
    failed = next(r for r in records if r.method == "prepare" and r.outcome == "error")
    assert "does-not-exist" in (failed.error or "")


def test_a_dataset_name_keeps_one_stage(cml: Crispml, small_csv: Path) -> None:
    raw = cml.ingest(source(small_csv), name="ccf")
    with pytest.raises(Conflict, match="'ccf' is taken by raw datasets"):
        cml.prepare(raw.id, name="ccf")
    assert [d.name for d in cml.lifecycle.list_datasets()] == ["ccf"]


def test_the_public_files_format_goes_through_the_whole_scenario(cml: Crispml, small_csv: Path, tmp_path: Path) -> None:
    """The real creditcard.csv quotes every header and the Class values, and repeats 1,081 rows."""
    frame = pd.read_csv(small_csv)
    frame = pd.concat([frame, frame.iloc[100:160]]).sort_values("Time", kind="stable").reset_index(drop=True)
    path = tmp_path / "creditcard.csv"
    frame.astype({"Class": str}).to_csv(path, index=False, quoting=1)  # csv.QUOTE_ALL
    assert path.read_text().startswith('"Time","V1"')
    raw = cml.ingest(source(path), name="public")
    assert raw.rows == SMALL_ROWS + 60
    prepared = cml.prepare(raw.id)
    assert prepared.report["duplicates_removed"] == 60
    curated = cml.curate(prepared.id, algorithm="rf")
    model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="public", params=FAST_RF)
    cml.persist(model.ref)
    scored = cml.score("public@champion", dataset=raw.id, frames="7-12")
    assert scored.batch.rows == raw.rows - raw.rows // 12 * 6
    cml.label(dataset=raw.id, frames="7-12")
    overall = cml.verify("public@champion", frames="7-12").rows[-1]
    assert overall["labelled"] == overall["scored"] == scored.batch.rows and overall["roc_auc"] > 0.85
