"""Replay a model's stored feature pipeline (preparation, then curation) on raw new records."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from crispml.errors import InvalidInput
from crispml.steps.columns import as_numeric, refuse_missing, require_columns
from crispml.steps.curate import Curation, curator, unchanged
from crispml.steps.prepare import Preparation

Stage = Callable[[np.ndarray], np.ndarray]
"""One step of a worked-out replay: a float64 matrix in, the next one out."""


class FeaturePipeline:
    """A model's feature pipeline (the `steps` still to run, then its `features`), asked once.

    What the pipeline reads (`input_columns`, `numeric_columns`) is worked out when it is built, and how
    it replays its steps (`replay_plan`) at its first transform, so a caller that scores many requests
    with one model builds it once and pays for neither again.
    """

    def __init__(self, steps: list[dict[str, Any]], features: list[str] | tuple[str, ...]) -> None:
        self.steps = steps
        self.features = list(features)
        self.input_columns = input_columns(steps, self.features)
        """The raw columns a record must carry."""
        self.numeric_columns = numeric_columns(steps, self.features)
        """The columns read as numbers, the columns of `transform_numbers`' matrix."""

    @cached_property
    def signature(self) -> str:
        """The pipeline's steps and features as canonical text: two versions with the same signature turn
        the same records into the same feature matrix (a challenger in the shadow reuses its champion's)."""
        return json.dumps([self.steps, self.features], sort_keys=True, default=str)

    @cached_property
    def numeric_positions(self) -> list[int]:
        """Where each of `numeric_columns` sits among `input_columns`."""
        position = {c: j for j, c in enumerate(self.input_columns)}
        return [position[c] for c in self.numeric_columns]

    @cached_property
    def _replay(self) -> Stage:
        # Worked out at the first transform, not at construction: a pipeline that cannot run is refused
        # when records meet it, as it always was.
        return replay_plan(self.numeric_columns, self.steps, self.features)

    def transform_numbers(self, matrix: np.ndarray) -> np.ndarray:
        """The feature matrix of a float64 matrix whose columns are `numeric_columns` (NaN: missing)."""
        return self._replay(matrix)

    def transform_inputs(self, matrix: np.ndarray) -> np.ndarray:
        """The feature matrix of a float64 matrix whose columns are `input_columns`."""
        return self.transform_numbers(matrix[:, self.numeric_positions])

    def transform_frame(self, records: pd.DataFrame) -> np.ndarray:
        """The feature matrix of records in a frame; columns are checked and converted by name."""
        return apply_pipeline(records, self.steps, self.features)


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


def apply_pipeline(records: pd.DataFrame, steps: list[dict[str, Any]], features: list[str]) -> np.ndarray:
    """Turn records into the model's feature matrix (float64, in the model's feature order).

    Columns are checked and converted to numbers here, with errors that name the column; the steps
    themselves run on the numeric matrix (`replay`), as they do for records that arrive as plain numbers.
    """
    require_columns(records, input_columns(steps, features))
    columns = numeric_columns(steps, features)
    return replay(as_numeric(records, columns).to_numpy(dtype=np.float64), columns, steps, features)


def numeric_columns(steps: list[dict[str, Any]], features: list[str]) -> list[str]:
    """The columns the pipeline reads as numbers (a preparation ignores the columns it drops)."""
    if steps and steps[0]["step"] == "prepare":
        return Preparation(**steps[0]).columns_out
    return list(features)


def replay(matrix: np.ndarray, columns: list[str], steps: list[dict[str, Any]], features: list[str]) -> np.ndarray:
    """Run `steps` on a float64 matrix (NaN for missing values) whose columns are `columns`."""
    return replay_plan(columns, steps, features)(matrix)


def replay_plan(columns: list[str], steps: list[dict[str, Any]], features: list[str]) -> Stage:
    """`replay` worked out once for matrices whose columns are `columns`: the steps parsed, the columns'
    positions, fill values and curation arrays built, so that each call runs only array operations.

    A matrix is checked for gaps after the preparation fills what it fills, and once at the end: a
    curation keeps a gap a gap (NaN stays NaN through its clip, log1p and scaling), so the last check
    names the same record and column a check before the curation would.
    """
    stages: list[Stage] = []
    for step in steps:
        kind = step["step"]
        if kind == "prepare":
            preparation = Preparation(**step)
            stages.append(_selection(columns, preparation.columns_out))
            columns = preparation.columns_out
            stages.append(_filling(columns, preparation.fill))
            stages.append(_gap_check(columns, "has missing values and the preparation fills none"))
        elif kind == "curate":
            stages.append(_selection(columns, features))
            columns = list(features)
            stages.append(curator(columns, Curation(**step)))
        else:
            raise InvalidInput(f"unknown pipeline step {kind!r}")
    stages.append(_selection(columns, features))
    stages.append(_gap_check(list(features), "has missing values"))
    work = tuple(stage for stage in stages if stage is not unchanged)

    def run(matrix: np.ndarray) -> np.ndarray:
        for stage in work:
            matrix = stage(matrix)
        return matrix

    return run


def _selection(columns: list[str], wanted: list[str]) -> Stage:
    if columns == wanted:
        return unchanged
    position = {c: i for i, c in enumerate(columns)}
    refuse_missing([c for c in wanted if c not in position])
    picked = np.array([position[c] for c in wanted], dtype=np.intp)
    return lambda matrix: matrix[:, picked]


def _filling(columns: list[str], fill: dict[str, float]) -> Stage:
    filled = [(j, value) for j, column in enumerate(columns) if (value := fill.get(column)) is not None]
    if not filled:
        return unchanged

    def fill_gaps(matrix: np.ndarray) -> np.ndarray:
        gaps = np.isnan(matrix)
        if not gaps.any():
            return matrix
        out = matrix.copy()
        for j, value in filled:
            out[gaps[:, j], j] = value
        return out

    return fill_gaps


def _gap_check(columns: list[str], problem: str) -> Stage:
    def refuse_gaps(matrix: np.ndarray) -> np.ndarray:
        _refuse_gaps(matrix, columns, problem)
        return matrix

    return refuse_gaps


def _refuse_gaps(matrix: np.ndarray, columns: list[str], problem: str) -> None:
    gaps = np.isnan(matrix)
    if gaps.any():
        j = int(np.argmax(gaps.any(axis=0)))
        row = int(np.argmax(gaps[:, j]))
        raise InvalidInput(f"record {row}: column {columns[j]!r} {problem}", field=columns[j])
