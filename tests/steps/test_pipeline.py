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
