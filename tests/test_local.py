"""crispml.connect(): the nine methods and lineage as methods, each equal to its service call."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import crispml
from crispml.container import Container
from crispml.local import Crispml
from crispml.services.ingestion import IngestionService
from crispml.services.lifecycle import LifecycleService
from crispml.services.scoring import ScoringService

METHODS = {
    "ingest": IngestionService.ingest,
    "prepare": LifecycleService.prepare,
    "curate": LifecycleService.curate,
    "train": LifecycleService.train,
    "report": LifecycleService.report,
    "persist": LifecycleService.persist,
    "score": ScoringService.score,
    "label": ScoringService.label,
    "verify": ScoringService.verify,
    "lineage": LifecycleService.lineage,
    "datasets": LifecycleService.list_datasets,
    "models": LifecycleService.list_models,
}


@pytest.mark.parametrize("name", sorted(METHODS))
def test_each_python_method_has_its_service_calls_signature(name: str) -> None:
    assert inspect.signature(getattr(Crispml, name)) == inspect.signature(METHODS[name])


def test_connect_gives_the_methods_and_closes_as_a_context_manager(tmp_path: Path) -> None:
    with crispml.connect(home=tmp_path / "home", user="ada") as cml:
        assert isinstance(cml, Crispml)
        assert cml.datasets() == [] and cml.models() == []
        assert cml.settings.user == "ada"
        assert isinstance(cml.container, Container)
        assert not [name for name in METHODS if hasattr(cml.container, name)]  # services, not method aliases
