"""The reference scenario at full size: every algorithm's defaults must beat ROC AUC 0.90 on frames
7-12 after training on frames 1-6, and the forest must not find the synthetic fraud trivial."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import crispml
from crispml.container import Container
from crispml.domain import SourceSpec
from crispml.services.synthesis import write_synthetic
from crispml.steps.synthetic import REFERENCE_FRAUDS, REFERENCE_ROWS

pytestmark = [pytest.mark.slow, pytest.mark.early]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, str]]:
    folder = tmp_path_factory.mktemp("reference")
    path = write_synthetic(folder / "creditcard.csv", REFERENCE_ROWS)
    with crispml.connect(home=folder / "home", user="quality") as cml:
        raw = cml.ingest(SourceSpec(path=str(path)), name="ccf", slices=12)
        assert raw.rows == REFERENCE_ROWS
        yield cml, cml.prepare(raw.id).id


@pytest.mark.parametrize(
    ("algorithm", "low", "high"), [("rf", 0.90, 0.99), ("hgb", 0.90, 1.0), ("lgbm", 0.90, 1.0), ("logreg", 0.90, 1.0)]
)
def test_default_hyper_parameters_beat_090(
    reference: tuple[Container, str], algorithm: str, low: float, high: float
) -> None:
    cml, prepared = reference
    curated = cml.curate(prepared, algorithm=algorithm, frames="1-6", name=f"ccf-{algorithm}")
    model = cml.train(curated.id, algorithm=algorithm, frames="1-6", weight=10, name=algorithm)
    overall = model.metrics["overall"]
    assert overall["rows"] == REFERENCE_ROWS - REFERENCE_ROWS // 12 * 6
    assert 0 < overall["positives"] < REFERENCE_FRAUDS
    assert low < overall["roc_auc"] < high, overall
