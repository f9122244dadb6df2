"""FeaturePipeline: what a model's pipeline reads, and the same feature matrix from numbers or a frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crispml.errors import InvalidInput
from crispml.steps.pipeline import FeaturePipeline
from tests.steps.test_record_path import COLUMNS, FEATURES, PIPELINE, records


def test_a_pipeline_reads_its_preparations_input_columns_and_the_numbers_it_keeps() -> None:
    pipeline = FeaturePipeline(PIPELINE, tuple(FEATURES))
    assert pipeline.input_columns == COLUMNS  # what a record must carry, in the order it was prepared
    assert pipeline.numeric_columns == ["V1", "V2", "Amount"]  # Time is dropped, so never read as a number
    assert pipeline.numeric_positions == [1, 2, 3]


def test_without_steps_a_pipeline_reads_the_features_as_they_are() -> None:
    pipeline = FeaturePipeline([], ["b", "a"])
    assert pipeline.input_columns == pipeline.numeric_columns == ["b", "a"]
    matrix = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert np.array_equal(pipeline.transform_numbers(matrix), matrix)


def test_numbers_inputs_and_frames_give_one_feature_matrix() -> None:
    rows = records(200)
    pipeline = FeaturePipeline(PIPELINE, FEATURES)
    frame = pd.DataFrame.from_records(rows)
    from_frame = pipeline.transform_frame(frame)
    inputs = frame[pipeline.input_columns].to_numpy(dtype=np.float64)
    assert from_frame.shape == (200, 3)
    assert np.array_equal(pipeline.transform_inputs(inputs), from_frame)
    assert np.array_equal(pipeline.transform_numbers(inputs[:, pipeline.numeric_positions]), from_frame)


def test_a_frame_missing_an_input_column_is_refused_by_name() -> None:
    frame = pd.DataFrame.from_records(records(5)).drop(columns=["V2"])
    with pytest.raises(InvalidInput, match="'V2'"):
        FeaturePipeline(PIPELINE, FEATURES).transform_frame(frame)


def test_a_gap_the_preparation_does_not_fill_is_refused_with_its_row_and_column() -> None:
    pipeline = FeaturePipeline(PIPELINE, FEATURES)
    inputs = pd.DataFrame.from_records(records(4))[pipeline.input_columns].to_numpy(dtype=np.float64)
    unfilled = [c for c in pipeline.numeric_columns if c not in PIPELINE[0]["fill"]]
    assert unfilled, "the scenario needs a column the preparation does not fill"
    j = pipeline.input_columns.index(unfilled[0])
    inputs[2, j] = np.nan
    with pytest.raises(InvalidInput, match=rf"record 2: column '{unfilled[0]}' has missing values and the preparation"):
        pipeline.transform_inputs(inputs)


def test_a_curation_without_a_preparation_still_refuses_gaps() -> None:
    curation = {"step": "curate", "algorithm": "logreg", "fit_frames": [1], "log1p": [],
                "center": {"a": 1.0, "b": 2.0}, "scale": {"a": 2.0, "b": 4.0}}  # fmt: skip
    pipeline = FeaturePipeline([curation], ["a", "b"])
    assert pipeline.transform_numbers(np.array([[3.0, 6.0]])).tolist() == [[1.0, 1.0]]
    with pytest.raises(InvalidInput, match="record 0: column 'b' has missing values"):
        pipeline.transform_numbers(np.array([[3.0, np.nan]]))


def test_a_pipeline_with_an_unknown_step_is_refused_when_records_meet_it() -> None:
    pipeline = FeaturePipeline([{"step": "bake"}], ["a"])  # building it reads nothing
    with pytest.raises(InvalidInput, match="unknown pipeline step 'bake'"):
        pipeline.transform_numbers(np.array([[1.0]]))
