"""The fast path for small inputs: serial copies and ONNX twins score exactly as each library does,
for every algorithm crispml offers, on the synthetic credit-card data.

Each algorithm's champion is trained once for the module; a test gets a copy of that store of its own.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
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
from crispml.steps import fast_path, tree_twin
from crispml.steps.algorithms import ALGORITHMS, BoosterModel
from crispml.steps.pipeline import apply_pipeline
from crispml.storage.schema import model_versions
from tests.conftest import FAST_RF, crispml_source

READY_WITHIN_S = 120
PARAMS: dict[str, dict[str, Any]] = {"rf": FAST_RF, "hgb": {"max_iter": 60}, "lgbm": {"n_estimators": 60}, "logreg": {}}
EVERY_ALGORITHM = pytest.mark.parametrize("algorithm", list(ALGORITHMS))


def test_every_algorithm_is_covered() -> None:
    assert set(PARAMS) == set(ALGORITHMS)


def train(cml: Container, small_csv: Path, algorithm: str) -> ModelVersion:
    """The reference chain up to a champion trained with `algorithm`, as the `trained` fixture does."""
    raw = cml.ingest(crispml_source(small_csv), name="ccf")
    prepared = cml.prepare(raw.id)
    curated = cml.curate(prepared.id, algorithm=algorithm, frames="1-6")
    model = cml.train(curated.id, algorithm=algorithm, frames="1-6", weight=10, name="fraud", params=PARAMS[algorithm])
    cml.persist(model.ref, alias="champion")
    return model


@pytest.fixture(scope="module")
def champions(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Callable[[str], Path]:
    """The folder of a store (SQLite) holding the champion trained with an algorithm, trained once."""
    trained: dict[str, Path] = {}

    def store(algorithm: str) -> Path:
        if algorithm not in trained:
            home = tmp_path_factory.mktemp(f"champion-{algorithm}")
            with crispml.connect(home=home, database_url=None, user="tester") as cml:
                train(cml, small_csv, algorithm)
            trained[algorithm] = home
        return trained[algorithm]

    return store


@pytest.fixture
def champion(champions: Callable[[str], Path], home: Path, algorithm: str) -> Iterator[tuple[Container, ModelVersion]]:
    """A store of the test's own in `home`, a copy of the one whose champion `algorithm` trained; and that
    champion (the fast path never touches the database: SQLite)."""
    shutil.copytree(champions(algorithm), home)
    with crispml.connect(home=home, database_url=None, user="tester") as cml:
        yield cml, cml.lifecycle.get_model("fraud@champion")


def later_rows(cml: Container, count: int) -> pd.DataFrame:
    """`count` raw records spread over frames 7-12, with their record ids, without target or frame."""
    raw = cml.lifecycle.dataset_frame("ccf")
    later = raw[raw[FRAME] >= 7]
    picked = later.iloc[np.linspace(0, len(later) - 1, count).astype(int)]
    return picked.drop(columns=["Class", FRAME]).reset_index(drop=True)


def features_of(model: ModelVersion, records: pd.DataFrame) -> np.ndarray:
    return apply_pipeline(records, model.pipeline, list(model.features))


@EVERY_ALGORITHM
def test_the_onnx_twin_scores_as_the_estimator_does(champion: tuple[Container, ModelVersion]) -> None:
    cml, model = champion
    estimator = cml.model_cache.estimator(model.artifact_sha256, model.artifact_format)
    twin = fast_path.compile_onnx(estimator)

    matrix = features_of(model, later_rows(cml, 400))
    exact = estimator.predict_proba(matrix)[:, 1]
    assert np.max(np.abs(twin.positive(matrix) - exact)) <= fast_path.TOLERANCE
    scored = fast_path.Scorer("onnx", estimator, twin).positive(matrix, model.threshold)
    assert ((scored >= model.threshold) == (exact >= model.threshold)).all()
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


@EVERY_ALGORITHM
def test_the_twin_stored_at_training_scores_records_and_datasets(champion: tuple[Container, ModelVersion]) -> None:
    cml, model = champion
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


@EVERY_ALGORITHM
def test_a_tampered_twin_is_refused_by_name(champion: tuple[Container, ModelVersion], home: Path) -> None:
    cml, model = champion
    assert model.twin_sha256 is not None
    path = cml.store.artifacts.path("models", model.twin_sha256, ".onnx")
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with crispml.connect(home=home, database_url=None) as fresh, pytest.raises(IntegrityFailure, match="modified"):
        fresh.score("fraud@champion", records=later_rows(fresh, 1))
    with crispml.connect(home=home, database_url=None) as fresh, fresh.store.transaction() as repo:
        assert repo.ledger.count() == 0


@EVERY_ALGORITHM
def test_a_model_from_before_stored_twins_compiles_one_when_it_is_used(
    champion: tuple[Container, ModelVersion], home: Path
) -> None:
    cml, model = champion
    with cml.store.transaction() as repo:  # as a store upgraded from migration 0003 holds it
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


@pytest.mark.parametrize("algorithm", ["rf"])  # as the `trained` fixture trains it
def test_small_inputs_never_start_joblib_workers(champion: tuple[Container, ModelVersion]) -> None:
    trained, model = champion
    estimator = trained.model_cache.estimator(model.artifact_sha256, model.artifact_format)
    assert estimator.n_jobs == -1  # the rf default
    serial = fast_path.serial_copy(estimator)
    assert serial.n_jobs == 1 and estimator.n_jobs == -1
    assert serial.estimators_ is estimator.estimators_  # a shallow copy: the trees are shared
    matrix = features_of(model, later_rows(trained, 50))
    assert np.array_equal(serial.predict_proba(matrix), estimator.predict_proba(matrix))


def lightgbm_booster(small_csv: Path, rounds: int = 5, **params: Any) -> BoosterModel:
    """A LightGBM booster trained directly (not through crispml) on the synthetic data."""
    import lightgbm

    frame = pd.read_csv(small_csv)
    data = lightgbm.Dataset(frame.drop(columns=["Class"]).to_numpy(), frame["Class"].to_numpy())
    return BoosterModel(lightgbm.train({"objective": "binary", "verbose": -1, **params}, data, num_boost_round=rounds))


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.5}, "only binary LightGBM boosters"),
        ({"zero_as_missing": True}, "Zero"),
    ],
)
def test_a_booster_the_twin_cannot_express_keeps_its_own_scoring(
    small_csv: Path, params: dict[str, Any], reason: str
) -> None:
    booster = lightgbm_booster(small_csv, **params)
    with pytest.raises(fast_path.FastPathUnavailable, match=reason):
        fast_path.compile_onnx(booster)
    assert fast_path.compile_or_none(booster, "odd booster") is None
    matrix = pd.read_csv(small_csv).drop(columns=["Class"]).to_numpy()[:50]
    scores = fast_path.Scorer("serial", booster).positive(matrix, 0.5)
    assert np.array_equal(scores, booster.booster.predict(matrix))


def test_a_lightgbm_twin_reads_values_next_to_zero_as_lightgbm_does(small_csv: Path) -> None:
    # LightGBM reads |x| <= 1e-35 (as float32) in a dense row as 0, and puts splits at -1e-35 between the
    # negative values and 0: x = -1e-35 goes right there, where a plain `x <= threshold` would go left.
    booster = lightgbm_booster(small_csv, rounds=100, num_leaves=63)
    next_to_zero = float(np.float32(-1e-35))
    splits = tree_twin.split_points(booster)
    features = [f for f, points in enumerate(splits) if (points == next_to_zero).any()]
    assert features
    rows = pd.read_csv(small_csv).drop(columns=["Class"]).to_numpy()[:400]
    rows[:, features] = next_to_zero
    twin = fast_path.compile_onnx(booster)
    # These rows score near 0, where a wrong branch moves a score by less than TOLERANCE (about 5e-9
    # here); the same branches keep it to float64 rounding.
    assert np.max(np.abs(twin.positive(rows) - booster.predict_proba(rows)[:, 1])) <= 1e-12
