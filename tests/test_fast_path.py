"""The fast path for small inputs: serial copies and ONNX twins score exactly as scikit-learn does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crispml.container import Container
from crispml.domain import FRAME, RECORD_ID, ModelVersion
from crispml.steps import fast_path
from crispml.steps.pipeline import apply_pipeline
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
    return apply_pipeline(records, model.pipeline, list(model.features)).to_numpy(dtype=np.float64)


@pytest.mark.parametrize("backend", ["sqlite"])  # the fast path never touches the database
@pytest.mark.parametrize("algorithm", ["rf", "logreg"])
def test_the_onnx_twin_scores_as_scikit_learn_does(cml: Container, small_csv: Path, algorithm: str) -> None:
    model = train(cml, small_csv, algorithm)
    estimator = cml.store.read_model(model.artifact_sha256, model.artifact_format)
    twin = fast_path.compile_onnx(estimator)

    matrix = features_of(model, later_rows(cml, 400))
    exact = estimator.predict_proba(matrix)[:, 1]
    assert np.max(np.abs(twin.positive(matrix) - exact)) <= fast_path.TOLERANCE
    probe = fast_path.probe_rows(estimator, matrix.shape[1])  # every feature on or beside a split point
    assert np.max(np.abs(twin.positive(probe) - estimator.predict_proba(probe)[:, 1])) <= fast_path.TOLERANCE

    # A row the twin puts on the decision threshold is rescored exactly, so decisions never differ.
    scorer = fast_path.Scorer("onnx", estimator, twin)
    on_threshold = float(twin.positive(matrix[:1])[0])
    assert scorer.positive(matrix[:1], threshold=on_threshold)[0] == exact[0]


@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.parametrize("algorithm", ["rf", "logreg"])
def test_records_scored_by_the_twin_match_dataset_scores(cml: Container, small_csv: Path, algorithm: str) -> None:
    model = train(cml, small_csv, algorithm)
    for _ in range(2):  # the second small input starts the compile
        cml.score("fraud@champion", records=later_rows(cml, 1))
    assert cml.store.fast_path_ready(model.artifact_sha256, wait=READY_WITHIN_S)

    before = cml.store.scoring_paths
    from_records = cml.score("fraud@champion", records=later_rows(cml, 300)).scores.set_index(RECORD_ID)
    from_dataset = cml.score("fraud@champion", dataset="ccf", frames="7-12").scores.set_index(RECORD_ID)
    after = cml.store.scoring_paths
    assert after["onnx"] == before.get("onnx", 0) + 1 and after["parallel"] == before.get("parallel", 0) + 1

    assert len(from_records) == 300 and set(from_records.index) <= set(from_dataset.index)
    expected = from_dataset.loc[from_records.index]
    assert np.max(np.abs(from_records["score"] - expected["score"])) <= fast_path.TOLERANCE
    assert (from_records["decision"] == expected["decision"]).all()


def test_the_service_switches_to_the_twin_once_it_is_ready(trained: Container) -> None:
    model = trained.lifecycle.get_model("fraud@champion")
    record = later_rows(trained, 1)
    first = trained.score("fraud@champion", records=record)
    assert not trained.store.fast_path_ready(model.artifact_sha256)  # a one-shot process never compiles
    trained.score("fraud@champion", records=record)
    assert trained.store.scoring_paths == {"serial": 2}
    assert trained.store.fast_path_ready(model.artifact_sha256, wait=READY_WITHIN_S)

    again = trained.score("fraud@champion", records=record)
    assert trained.store.scoring_paths == {"serial": 2, "onnx": 1}
    assert abs(again.scores["score"].iloc[0] - first.scores["score"].iloc[0]) <= fast_path.TOLERANCE
    with trained.store.transaction() as repo:
        assert repo.count_scores() == 3  # the fast path persists like any other


def test_small_inputs_never_start_joblib_workers(trained: Container) -> None:
    model = trained.lifecycle.get_model("fraud@champion")
    estimator = trained.store.read_model(model.artifact_sha256, model.artifact_format)
    assert estimator.n_jobs == -1  # the rf default
    serial = fast_path.serial_copy(estimator)
    assert serial.n_jobs == 1 and estimator.n_jobs == -1
    assert serial.estimators_ is estimator.estimators_  # a shallow copy: the trees are shared
    matrix = features_of(model, later_rows(trained, 50))
    assert np.array_equal(serial.predict_proba(matrix), estimator.predict_proba(matrix))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_model_without_a_twin_stays_on_scikit_learn(cml: Container, small_csv: Path) -> None:
    model = train(cml, small_csv, "lgbm")  # a LightGBM booster: skl2onnx does not convert it
    record = later_rows(cml, 3)
    first = cml.score("fraud@champion", records=record)
    again = cml.score("fraud@champion", records=record)
    assert not cml.store.fast_path_ready(model.artifact_sha256, wait=READY_WITHIN_S)
    last = cml.score("fraud@champion", records=record)
    assert cml.store.scoring_paths == {"serial": 3}
    assert np.array_equal(again.scores["score"].to_numpy(), first.scores["score"].to_numpy())
    assert np.array_equal(last.scores["score"].to_numpy(), first.scores["score"].to_numpy())
