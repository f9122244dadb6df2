"""Replay a model's stored feature pipeline (preparation, then curation) on raw new records."""

from __future__ import annotations

from typing import Any

import pandas as pd

from crispml.errors import InvalidInput
from crispml.steps.columns import as_numeric, require_columns
from crispml.steps.curate import Curation, apply_curation
from crispml.steps.prepare import Preparation, apply_preparation


def input_columns(pipeline: list[dict[str, Any]], features: list[str]) -> list[str]:
    """The raw columns a record must carry for this pipeline."""
    for step in pipeline:
        if step["step"] == "prepare":
            return list(step["columns_in"])
    return list(features)


def remaining_steps(model_pipeline: list[dict[str, Any]], applied: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The steps still to run on data that has already been through `applied`."""
    if model_pipeline[: len(applied)] != applied:
        raise InvalidInput(
            "the dataset went through a different preparation or curation than the model was trained on; "
            "score its raw dataset or the dataset the model was trained on",
            field="dataset",
        )
    return model_pipeline[len(applied) :]


def apply_pipeline(records: pd.DataFrame, steps: list[dict[str, Any]], features: list[str]) -> pd.DataFrame:
    """Turn records into the model's feature matrix (float64, in the model's feature order)."""
    data = records
    for step in steps:
        kind = step["step"]
        if kind == "prepare":
            data = apply_preparation(data, Preparation(**step))
        elif kind == "curate":
            data = apply_curation(_features_of(data, features), Curation(**step))
        else:
            raise InvalidInput(f"unknown pipeline step {kind!r}")
    return _features_of(data, features)


def _features_of(data: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    require_columns(data, features)
    frame = as_numeric(data, features)
    if frame.isna().any().any():
        column = str(frame.columns[frame.isna().any()][0])
        raise InvalidInput(f"column {column!r} has missing values", field=column)
    return frame
