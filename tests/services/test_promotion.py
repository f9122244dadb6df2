"""Promotion through the Python API (`crispml.connect()`), on both stores: a bundle made in one home and
imported in another; a failure inside the import's transaction leaves no row and no file behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import crispml
from crispml.errors import Conflict, InvalidInput
from crispml.local import Crispml
from tests.conftest import FAST_RF, crispml_source

KEY = "the-shared-promotion-key"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> bytes:
    """dev's fraud/1 (a 20-tree forest) as a signed bundle."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CRISPML_PROMOTION_KEY", KEY)
        env.setenv("CRISPML_ENVIRONMENT", "dev")
        with crispml.connect(home=tmp_path_factory.mktemp("dev"), user="dev-user") as dev:
            raw = dev.ingest(crispml_source(small_csv), name="ccf")
            curated = dev.curate(dev.prepare(raw.id).id, algorithm="rf", frames="1-6")
            model = dev.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud", params=FAST_RF)
            return dev.export_model(model.ref)


@pytest.fixture
def qa(home: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crispml]:
    monkeypatch.setenv("CRISPML_PROMOTION_KEY", KEY)
    monkeypatch.setenv("CRISPML_ENVIRONMENT", "qa")
    monkeypatch.delenv("CRISPML_PROMOTION_GATES", raising=False)
    with crispml.connect(home=home, database_url=database_url, user="qa-user") as found:
        yield found


def _model_files(home: Path) -> list[str]:
    folder = home / "artifacts" / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_an_import_that_fails_inside_its_transaction_leaves_nothing_then_one_that_succeeds(
    qa: Crispml, bundle: bytes, home: Path, small_csv: Path
) -> None:
    # A name the bundle's lineage needs (dev.ccf) already belongs to another project here: refused mid-import.
    qa.ingest(crispml_source(small_csv), name="dev.ccf", project="other")
    datasets = qa.datasets()
    with pytest.raises(Conflict, match="belongs to another project"):
        qa.import_model(bundle, alias="champion")
    assert qa.models() == [] and qa.datasets() == datasets and _model_files(home) == []
    with pytest.raises(InvalidInput, match="altered"):
        middle = len(bundle) // 2  # inside the model's file: its deflated bytes or its CRC no longer hold
        qa.import_model(bundle[:middle] + bytes([bundle[middle] ^ 0xFF]) + bundle[middle + 1 :])
    assert qa.models() == [] and _model_files(home) == []


def test_a_bundle_imported_locally_keeps_its_provenance_and_scores(qa: Crispml, bundle: bytes) -> None:
    answer = qa.import_model(bundle, alias="champion")
    assert answer["moved"] and answer["model"] == "fraud/1" and answer["source_environment"] == "dev"
    provenance = qa.provenance("fraud@champion")
    assert provenance["source_ref"] == "fraud/1" and provenance["bundle_sha256"] == answer["bundle_sha256"]
    assert provenance["lineage"] == ["ccf-cur/1 (curated)", "ccf-prep/1 (prepared)", "ccf/1 (raw)"]
    assert [d.name for d in qa.datasets()] == ["dev.ccf", "dev.ccf-prep", "dev.ccf-cur"]
    assert qa.import_model(bundle)["imported"] is False  # the same version again: nothing written twice
    assert len(qa.models()) == 1
    features = {f"V{i}": 0.0 for i in range(1, 29)}
    scored = qa.score("fraud@champion", records=[{"Time": 0.0, "Amount": 1.0, **features}])
    assert scored.batch.model_ref == "fraud/1"
    assert qa.audit.verify() > 0


def test_gates_naming_a_dataset_this_environment_lacks_refuse_before_anything_is_written(
    bundle: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRISPML_PROMOTION_KEY", KEY)
    monkeypatch.setenv("CRISPML_PROMOTION_GATES", '{"dataset": "nowhere", "min_roc_auc": 0.9}')
    with crispml.connect(home=tmp_path / "prod", user="prod-user") as prod:
        with pytest.raises(InvalidInput, match="CRISPML_PROMOTION_GATES names dataset 'nowhere'"):
            prod.import_model(bundle, alias="champion")
        assert prod.models() == [] and prod.datasets() == [] and _model_files(tmp_path / "prod") == []
