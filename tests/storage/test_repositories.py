"""One repository per aggregate, over one unit of work, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from crispml.domain import (
    Dataset,
    ModelVersion,
    NewScoreBatch,
    Outcome,
    PerfRecord,
    ScoreBatch,
    ScoredRecords,
    Stage,
)
from crispml.errors import InvalidInput, NotFound
from crispml.local import Crispml

AT = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def dataset(id_: str, name: str = "ccf", stage: Stage = Stage.RAW) -> Dataset:
    return Dataset(id_, name, 0, stage, "a" * 64, 2, 1, "Class", {"V1": "float64", "Class": "int64"}, {}, {},
                   "x.csv", None, None, "t", AT)  # fmt: skip


def model(id_: str, dataset_id: str, name: str = "fraud") -> ModelVersion:
    return ModelVersion(id_, name, 0, "rf", {}, 1.0, 0.5, dataset_id, (1,), ("V1",), [], {}, "b" * 64, "skops",
                        False, (), "t", AT)  # fmt: skip


def test_datasets_take_the_next_version_and_are_found_by_id_name_and_version(cml: Crispml) -> None:
    with cml.store.transaction() as uow:
        first, second = uow.datasets.add(dataset("ds-1")), uow.datasets.add(dataset("ds-2"))
        uow.datasets.add(dataset("ds-3", "ccf-prep", Stage.PREPARED))
    assert (first.version, second.version) == (1, 2)
    with cml.store.reading() as uow:
        assert uow.datasets.get("ccf").id == "ds-2" and uow.datasets.get("ccf/1").id == "ds-1"
        assert uow.datasets.get("ds-1").created_at == AT
        assert [d.id for d in uow.datasets.list_versions(Stage.PREPARED)] == ["ds-3"]
        assert uow.datasets.latest(Stage.RAW).version in (1, 2)
        with pytest.raises(NotFound, match="'ccf/3' does not exist"):
            uow.datasets.get("ccf/3")
        with pytest.raises(InvalidInput, match="a version is a number"):
            uow.datasets.get("ccf/latest")


def test_models_and_their_aliases_resolve_every_reference_form(cml: Crispml) -> None:
    with cml.store.transaction() as uow:
        uow.datasets.add(dataset("ds-1"))
        one, two = uow.models.add(model("mv-1", "ds-1")), uow.models.add(model("mv-2", "ds-1"))
        uow.models.set_alias(one, "champion", "t", AT)
        uow.models.mark_registered("mv-1")
    with cml.store.reading() as uow:
        assert uow.models.get("fraud@champion").id == "mv-1" and uow.models.id_of("fraud/2") == two.id
        assert uow.models.get("fraud").id == "mv-2" and uow.models.get("mv-1").registered
        assert uow.models.get("mv-1").aliases == ("champion",) and uow.models.alias_refs(5) == ["fraud@champion"]
        assert [m.ref for m in uow.models.list_versions("fraud")] == ["fraud/1", "fraud/2"]
        assert uow.referenced_artifacts() == {"a" * 64, "b" * 64}
    with cml.store.transaction() as uow:
        uow.models.delete_alias("fraud", "champion")
        with pytest.raises(NotFound, match="no alias 'champion'"):
            uow.models.delete_alias("fraud", "champion")
        with pytest.raises(NotFound):
            uow.models.get("fraud@champion")


def test_the_ledger_keeps_batches_whole_and_joins_them_to_labels(cml: Crispml) -> None:
    rows = ScoredRecords(["r1", "r2"], [1, None], [0.9, 0.1], [1, 0])
    batch = ScoreBatch("sb-1", "mv-1", "fraud/1", "key-1", "records", 2, AT)
    with cml.store.transaction() as uow:
        uow.datasets.add(dataset("ds-1"))
        uow.models.add(model("mv-1", "ds-1"))
        uow.ledger.add_batches([NewScoreBatch(batch, rows, "c" * 64, "t", 0.5)])
        uow.labels.upsert(pd.DataFrame({"record_id": ["r1", "r9"], "label": [1, 0]}), "file", "li-1", "t", AT)
    with cml.store.reading() as uow:
        assert uow.ledger.find_batch("key-1") == (batch, "c" * 64) and uow.ledger.find_batch("other") is None
        assert uow.ledger.get_batch("sb-1") == batch and uow.ledger.batch_scores("sb-1") == rows
        assert uow.ledger.count() == 2 and uow.labels.count() == 2
        assert uow.labels.unscored("li-1") == (1, ["r9"])
        joined = uow.ledger.joined_labels(["mv-1"], None).sort_values("record_id")
        assert joined["label"].tolist()[0] == 1 and pd.isna(joined["label"].tolist()[1])
        assert uow.ledger.joined_labels(["mv-1"], [1])["record_id"].tolist() == ["r1"]


def test_perf_records_come_back_newest_first(cml: Crispml) -> None:
    cml.store.flush()
    records = [PerfRecord(f"m{i}", AT, 0.1, 1, 1, 10.0, 0.1, 0, Outcome.OK) for i in range(3)]
    with cml.store.transaction() as uow:
        before = len(uow.perf.newest())
        uow.perf.add(records[0])
        uow.perf.add_many(records[1:])
    with cml.store.reading() as uow:
        assert [r.method for r in uow.perf.newest(limit=3)] == ["m2", "m1", "m0"]
        assert uow.perf.newest("m1") == [records[1]] and len(uow.perf.newest()) == before + 3
