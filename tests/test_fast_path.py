"""The fast path for small inputs: serial copies and ONNX twins score exactly as scikit-learn does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

import crispml
from crispml.container import Container
from crispml.domain import FRAME, RECORD_ID, ModelVersion
from crispml.errors import IntegrityFailure
from crispml.steps import fast_path
from crispml.steps.pipeline import apply_pipeline
from crispml.storage.schema import model_versions
from tests.conftest import FAST_RF, crispml_source

READY_WITHIN_S = 120
PARAMS: dict[str, dict[str, Any]] = {"rf": FAST_RF, "logreg": {}, "lgbm": {"n_estimators": 20}}


def train(cml: Container, small_csv: Path, algorithm: str) -> ModelVersion:
    """The reference chain up to a champion trained with `algorithm`, as the `trained` fixture does."""
    raw = cml.ingest(crispml_source(small_csv), name="ccf")
    prepared = cml.prepare(raw.id)
    curated = cml.curate(prepared.id, algorithm=algorithm, frames="1-6")
    model = cml.train(curated.id, algorithm=algorithm, frames="1-6", weight=10, name="fraud", params=PARAMS[algorithm])
    cml.persist(model.ref, alias="champion")
    return model


def later_rows(cml: Container, count: int) -> pd.DataFrame:
    """`count` raw records spread over frames 7-12, with their record ids, without target or frame."""
    raw = cml.lifecycle.dataset_frame("ccf")
    later = raw[raw[FRAME] >= 7]
    picked = later.iloc[np.linspace(0, len(later) - 1, count).astype(int)]
    return picked.drop(columns=["Class", FRAME]).reset_index(drop=True)


def features_of(model: ModelVersion, records: pd.DataFrame) -> np.ndarray:
    return apply_pipeline(records, model.pipeline, list(model.features))


@pytest.mark.parametrize("backend", ["sqlite"])  # the fast path never touches the database
@pytest.mark.parametrize("algorithm", ["rf", "logreg"])
def test_the_onnx_twin_scores_as_scikit_learn_does(cml: Container, small_csv: Path, algorithm: str) -> None:
    model = train(cml, small_csv, algorithm)
    estimator = cml.model_cache.estimator(model.artifact_sha256, model.artifact_format)
    twin = fast_path.compile_onnx(estimator)

    matrix = features_of(model, later_rows(cml, 400))
    exact = estimator.predict_proba(matrix)[:, 1]
    assert np.max(np.abs(twin.positive(matrix) - exact)) <= fast_path.TOLERANCE
    probe = fast_path.probe_rows(estimator, matrix.shape[1])  # every feature on or beside a split point
    assert np.max(np.abs(twin.positive(probe) - estimator.predict_proba(probe)[:, 1])) <= fast_path.TOLERANCE

    # A row the twin puts on the decision threshold is rescored exactly, so decisions never differ.
    exact_calls = Recording(estimator)
    scorer = fast_path.Scorer("onnx", exact_calls, twin)
    twin_scores = twin.positive(matrix)
    high, low = int(np.argmax(twin_scores)), int(np.argmin(twin_scores))
    pair, on_threshold = matrix[[high, low]], float(twin_scores[high])
    assert on_threshold - twin_scores[low] > 2 * fast_path.TOLERANCE
    scorer.positive(pair, threshold=on_threshold + 2 * fast_path.TOLERANCE)
    assert exact_calls.rows == 0
    rescored = scorer.positive(pair, threshold=on_threshold)
    assert exact_calls.rows == 1  # only the row on the threshold
    # (BLAS may round a copied row differently in the last bits, hence no exact equality)
    assert rescored[0] == pytest.approx(exact[high], rel=1e-12, abs=0)


class Recording:
    """An estimator that counts the rows it is asked to score."""

    def __init__(self, estimator: Any) -> None:
        self.estimator, self.rows = estimator, 0

    def predict_proba(self, matrix: np.ndarray) -> np.ndarray:
        self.rows += len(matrix)
        return np.asarray(self.estimator.predict_proba(matrix))


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("algorithm", ["rf", "logreg"])
def test_the_twin_stored_at_training_scores_records_and_datasets(
    cml: Container, small_csv: Path, algorithm: str
) -> None:
    model = train(cml, small_csv, algorithm)
    assert model.twin_sha256 is not None
    assert cml.store.artifacts.path("models", model.twin_sha256, ".onnx").is_file()

    from_records = cml.score("fraud@champion", records=later_rows(cml, 300)).scores.set_index(RECORD_ID)
    from_dataset = cml.score("fraud@champion", dataset="ccf", frames="7-12").scores.set_index(RECORD_ID)
    assert cml.model_cache.paths_taken == {"onnx": 2}  # no compile, no waiting: the first input is fast

    estimator = cml.model_cache.estimator(model.artifact_sha256, model.artifact_format)
    raw = cml.lifecycle.dataset_frame("ccf")
    later = raw[raw[FRAME] >= 7].set_index(RECORD_ID).loc[from_dataset.index]
    exact = estimator.predict_proba(features_of(model, later.reset_index()))[:, 1]
    assert np.max(np.abs(from_dataset["score"].to_numpy() - exact)) <= fast_path.TOLERANCE
    assert (from_dataset["decision"].to_numpy() == (exact >= model.threshold)).all()

    assert len(from_records) == 300 and set(from_records.index) <= set(from_dataset.index)
    expected = from_dataset.loc[from_records.index]
    assert np.max(np.abs(from_records["score"] - expected["score"])) <= fast_path.TOLERANCE
    assert (from_records["decision"] == expected["decision"]).all()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_tampered_twin_is_refused_by_name(trained: Container, home: Path) -> None:
    model = trained.lifecycle.get_model("fraud@champion")
    assert model.twin_sha256 is not None
    path = trained.store.artifacts.path("models", model.twin_sha256, ".onnx")
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with crispml.connect(home=home, database_url=None) as fresh, pytest.raises(IntegrityFailure, match="modified"):
        fresh.score("fraud@champion", records=later_rows(fresh, 1))
    with crispml.connect(home=home, database_url=None) as fresh, fresh.store.transaction() as repo:
        assert repo.ledger.count() == 0


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_model_from_before_stored_twins_compiles_one_when_it_is_used(trained: Container, home: Path) -> None:
    model = trained.lifecycle.get_model("fraud@champion")
    with trained.store.transaction() as repo:  # as a store upgraded from migration 0003 holds it
        repo.connection.execute(update(model_versions).values(twin_sha256=None))
    with crispml.connect(home=home, database_url=None) as older:
        record = later_rows(older, 1)
        first = older.score("fraud@champion", records=record)
        assert not older.model_cache.fast_path_ready(model.artifact_sha256)  # a one-shot process never compiles
        older.score("fraud@champion", records=record)
        assert older.model_cache.paths_taken == {"serial": 2}
        assert older.model_cache.fast_path_ready(model.artifact_sha256, wait=READY_WITHIN_S)

        again = older.score("fraud@champion", records=record)
        assert older.model_cache.paths_taken == {"serial": 2, "onnx": 1}
        assert abs(again.scores["score"].iloc[0] - first.scores["score"].iloc[0]) <= fast_path.TOLERANCE
        with older.store.transaction() as repo:
            assert repo.ledger.count() == 3  # the fast path persists like any other


def test_small_inputs_never_start_joblib_workers(trained: Container) -> None:
    model = trained.lifecycle.get_model("fraud@champion")
    estimator = trained.model_cache.estimator(model.artifact_sha256, model.artifact_format)
    assert estimator.n_jobs == -1  # the rf default
    serial = fast_path.serial_copy(estimator)
    assert serial.n_jobs == 1 and estimator.n_jobs == -1
    assert serial.estimators_ is estimator.estimators_  # a shallow copy: the trees are shared
    matrix = features_of(model, later_rows(trained, 50))
    assert np.array_equal(serial.predict_proba(matrix), estimator.predict_proba(matrix))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_model_without_a_twin_stays_on_scikit_learn(cml: Container, small_csv: Path) -> None:
    model = train(cml, small_csv, "lgbm")  # a LightGBM booster: skl2onnx does not convert it
    assert model.twin_sha256 is None
    record = later_rows(cml, 3)
    first = cml.score("fraud@champion", records=record)
    again = cml.score("fraud@champion", records=record)
    assert not cml.model_cache.fast_path_ready(model.artifact_sha256, wait=READY_WITHIN_S)
    last = cml.score("fraud@champion", records=record)
    assert cml.model_cache.paths_taken == {"serial": 3}
    assert np.array_equal(again.scores["score"].to_numpy(), first.scores["score"].to_numpy())
    assert np.array_equal(last.scores["score"].to_numpy(), first.scores["score"].to_numpy())
