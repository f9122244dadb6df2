"""Curation: trees get features as they are; a linear model gets log1p on skewed amounts and standard scaling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crispml.steps.curate import Curation, apply_curation, curate_matrix, fit_curation

FEATURES = ["amount", "signed", "flat"]


def training(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3.0, 1.5, rows),  # non-negative, long right tail
            "signed": rng.normal(5.0, 2.0, rows),  # symmetric
            "flat": np.full(rows, 7.0),  # constant
        }
    )


@pytest.mark.parametrize("algorithm", ["rf", "hgb", "lgbm"])
def test_tree_algorithms_get_their_features_unchanged(algorithm: str) -> None:
    data = training()
    curation = fit_curation(data, FEATURES, algorithm, [1, 2])
    assert curation == Curation(algorithm, [1, 2], [], {}, {})
    pd.testing.assert_frame_equal(apply_curation(data, curation), data)
    matrix = data.to_numpy()
    np.testing.assert_array_equal(curate_matrix(matrix, FEATURES, curation), matrix)


def test_linear_model_logs_only_skewed_non_negative_columns() -> None:
    data = training()
    data.loc[0, "signed"] = -1.0
    skewed_negative = data["amount"] - 1000.0  # skewed but with negatives: log1p does not apply
    data["shifted"] = skewed_negative
    curation = fit_curation(data, [*FEATURES, "shifted"], "logreg", [1])
    assert curation.log1p == ["amount"]


def test_linear_model_standardises_the_training_rows() -> None:
    data = training()
    curation = fit_curation(data, FEATURES, "logreg", [1, 2, 3])
    curated = apply_curation(data[FEATURES], curation)
    np.testing.assert_allclose(curated[["amount", "signed"]].mean(), 0.0, atol=1e-9)
    np.testing.assert_allclose(curated[["amount", "signed"]].std(ddof=0), 1.0, atol=1e-9)
    # The amount was centred on the mean of its log, not of the raw values.
    assert curation.center["amount"] == pytest.approx(float(np.log1p(data["amount"]).mean()))
    assert curation.center["signed"] == pytest.approx(float(data["signed"].mean()))


def test_a_constant_column_scales_by_one_instead_of_dividing_by_zero() -> None:
    data = training()
    curation = fit_curation(data, FEATURES, "logreg", [1])
    assert curation.scale["flat"] == 1.0
    curated = apply_curation(data[FEATURES], curation)
    assert (curated["flat"] == 0.0).all()


def test_only_the_given_training_rows_shape_the_transform() -> None:
    data = training()
    first = fit_curation(data.iloc[:200], FEATURES, "logreg", [1])
    shifted = data.copy()
    shifted.loc[200:, "signed"] += 100.0  # rows outside the training set change
    assert fit_curation(shifted.iloc[:200], FEATURES, "logreg", [1]) == first


def test_new_records_replay_the_training_transform() -> None:
    curation = Curation("logreg", [1], log1p=["amount"], center={"amount": 2.0, "signed": 5.0},
                        scale={"amount": 0.5, "signed": 2.0})  # fmt: skip
    new = pd.DataFrame({"amount": [np.e - 1.0, -30.0], "signed": [9.0, 1.0]}, index=[10, 11])
    curated = apply_curation(new, curation)
    # log1p(e - 1) = 1 -> (1 - 2) / 0.5; a negative amount is clipped to 0 -> (0 - 2) / 0.5.
    np.testing.assert_allclose(curated["amount"], [-2.0, -4.0])
    np.testing.assert_allclose(curated["signed"], [2.0, -2.0])
    assert list(curated.index) == [10, 11]
    assert list(curated.columns) == ["amount", "signed"]


def test_matrix_and_frame_paths_agree_and_leave_the_input_alone() -> None:
    data = training()
    curation = fit_curation(data, FEATURES, "logreg", [1])
    matrix = data[FEATURES].to_numpy(dtype=np.float64)
    before = matrix.copy()
    curated = curate_matrix(matrix, FEATURES, curation)
    np.testing.assert_array_equal(matrix, before)
    np.testing.assert_allclose(curated, apply_curation(data[FEATURES], curation).to_numpy())
    # Columns are found by name, not position.
    reordered = curate_matrix(matrix[:, ::-1], FEATURES[::-1], curation)
    np.testing.assert_allclose(reordered[:, ::-1], curated)


def test_a_curation_is_plain_json_that_rebuilds_itself() -> None:
    curation = fit_curation(training(), FEATURES, "logreg", [1, 4])
    as_json = curation.to_json()
    assert as_json["step"] == "curate" and as_json["fit_frames"] == [1, 4]
    assert Curation(**as_json) == curation


def test_the_worked_out_curation_gives_the_column_by_column_definitions_bits() -> None:
    """log1p of the amount clipped at zero, then (x - mean) / scale, column by column: the definition,
    as stored curations were always replayed; the vectorised curator must give the very same bits."""
    data = training(rows=300, seed=3)
    curation = fit_curation(data, FEATURES, "logreg", [1])
    assert curation.log1p == ["amount"] and set(curation.center) == set(FEATURES)
    matrix = data[FEATURES].to_numpy(dtype=np.float64, copy=True)
    matrix[:5, 0] = [-3.0, 0.0, -0.0, 1e-300, 1e300]  # below, at and far from the training domain
    expected = matrix.copy()
    expected[:, 0] = np.log1p(np.clip(expected[:, 0], 0, None))
    for j, column in enumerate(FEATURES):
        expected[:, j] = (expected[:, j] - curation.center[column]) / curation.scale[column]
    assert curate_matrix(matrix, FEATURES, curation).tobytes() == expected.tobytes()
    one = matrix[7:8]  # the one-record request
    assert curate_matrix(one, FEATURES, curation).tobytes() == expected[7:8].tobytes()
