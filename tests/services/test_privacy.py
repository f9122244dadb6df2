"""Data protection through the Python API, on SQLite and PostgreSQL: tags, pseudonyms, anonymization,
a data subject's erasure and retention, each end to end, and refusals that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Text, cast, column, inspect, select, table

import crispml
from crispml.domain import RECORD_ID, SourceSpec
from crispml.errors import Erased, InvalidInput
from crispml.local import Crispml
from crispml.storage.artifacts import STAGED_MARK
from crispml.storage.ledger import LedgerRepository

SECRET = "a-pseudonym-secret-9f3c"
FAST_RF = {"n_estimators": 10}
TAGS = {"cust": "personal", "email": "personal", "age": "quasi-identifier", "zip": "quasi-identifier",
        "diag": "sensitive"}  # fmt: skip


def people(rows: int = 480, seed: int = 0, first: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "cust": [f"c{first + i}" for i in range(rows)],
        "email": [f"user{first + i}@example.org" for i in range(rows)],
        "age": rng.integers(18, 90, rows),
        "zip": rng.integers(1000, 1100, rows),
        "diag": rng.choice([1, 2, 3, 4], rows),
        "V1": rng.normal(size=rows),
        "V2": rng.normal(size=rows),
        "Class": (rng.random(rows) < 0.25).astype(int),
    })  # fmt: skip


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    path = tmp_path / "people.csv"
    people().to_csv(path, index=False)
    return path


@pytest.fixture
def keyed(home: Path, database_url: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crispml]:
    """crispml with a pseudonym key in a secret file."""
    secret = tmp_path / "pseudonym.key"
    secret.write_text(SECRET + "\n")
    monkeypatch.setenv("CRISPML_PSEUDONYM_KEY_FILE", str(secret))
    monkeypatch.delenv("CRISPML_PSEUDONYM_KEY", raising=False)
    with crispml.connect(home=home, database_url=database_url, user="steward") as found:
        yield found


@pytest.fixture
def keyless(home: Path, database_url: str | None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Crispml]:
    monkeypatch.delenv("CRISPML_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.delenv("CRISPML_PSEUDONYM_KEY", raising=False)
    with crispml.connect(home=home, database_url=database_url, user="steward") as found:
        yield found


def ingest(cml: Crispml, path: Path, name: str = "people") -> crispml.domain.Dataset:
    return cml.ingest(SourceSpec(path=str(path)), name=name, slices=4, key="cust", tags=TAGS)


def files(cml: Crispml) -> set[str]:
    folder = cml.settings.artifact_root / "datasets"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def database_text(cml: Crispml) -> str:
    """Every text (and JSON) value of every table, as one string."""
    engine = cml.container.engine
    chunks = []
    cml.store.flush()  # perf rows handed to the group commit
    with cml.store.reading() as uow:
        connection = uow.connection  # type: ignore[attr-defined]
        for name in inspect(engine).get_table_names():
            columns = [c["name"] for c in inspect(engine).get_columns(name)]
            rows = table(name, *[column(c) for c in columns])
            for row in connection.execute(select(*[cast(rows.c[c], Text) for c in columns])):
                chunks.extend(str(v) for v in row if v is not None)
    return "\n".join(chunks)


def test_tags_set_at_ingestion_travel_to_derived_datasets_and_change_later(cml: Crispml, people_csv: Path) -> None:
    raw = ingest(cml, people_csv)
    assert raw.tags == TAGS
    prepared = cml.prepare(raw.id)
    curated = cml.curate(prepared.id, algorithm="rf", frames="1-2")
    assert {c: prepared.tags[c] for c in ("cust", "age", "zip")} == {"cust": "personal", "age": "quasi-identifier",
                                                                        "zip": "quasi-identifier"}  # fmt: skip
    assert curated.tags == prepared.tags
    assert set(prepared.tags) <= {*prepared.columns, "cust"}  # a dropped column's tag does not travel

    retagged = cml.privacy.tag(raw.id, {"V1": "sensitive", "email": None})
    assert retagged.tags == {**{c: t for c, t in TAGS.items() if c != "email"}, "V1": "sensitive"}
    assert cml.lifecycle.get_dataset(raw.id).tags == retagged.tags  # stored per version
    assert cml.lifecycle.get_dataset(prepared.id).tags == prepared.tags  # others unchanged

    for bad, message in (({"nope": "personal"}, "no such column"), ({"V2": "secret"}, "unknown tag 'secret'"),
                         ({"frame": "personal"}, "no such column")):  # fmt: skip
        with pytest.raises(InvalidInput, match=message):
            cml.privacy.tag(raw.id, bad)
    assert cml.lifecycle.get_dataset(raw.id).tags == retagged.tags
    with pytest.raises(InvalidInput, match="no such column"):
        cml.ingest(SourceSpec(path=str(people_csv)), name="other", key="cust", tags={"nope": "personal"})
    assert [d.name for d in cml.datasets()] == ["people", "people-prep", "people-cur"]


def test_pseudonymization_without_a_key_is_refused_clearly(keyless: Crispml, people_csv: Path) -> None:
    raw = ingest(keyless, people_csv)
    before = files(keyless)
    with pytest.raises(InvalidInput, match="CRISPML_PSEUDONYM_KEY_FILE") as caught:
        keyless.privacy.pseudonymize(raw.id)
    assert "no pseudonym key is configured" in caught.value.message
    assert len(keyless.datasets()) == 1 and files(keyless) == before


def test_pseudonyms_are_keyed_stable_across_datasets_and_never_stored(keyed: Crispml, tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    people(rows=200, seed=1).to_csv(first, index=False)
    people(rows=200, seed=2, first=100).to_csv(second, index=False)  # customers c100..c199 in both
    a = ingest(keyed, first, "a")
    b = ingest(keyed, second, "b")
    pa_ = keyed.privacy.pseudonymize(a.id)
    pb = keyed.privacy.pseudonymize(b.id, name="b-pseudo")
    assert (pa_.name, pa_.version, pa_.parent_id) == ("a", 2, a.id)
    assert pa_.params["pseudonymized"] == ["cust", "email"] and pa_.tags == a.tags
    rows_a, rows_b = keyed.lifecycle.dataset_frame(pa_.id), keyed.lifecycle.dataset_frame(pb.id)
    assert not set(rows_a[RECORD_ID]) & {f"c{i}" for i in range(200)}
    assert rows_a["email"].str.len().eq(64).all() and rows_a[RECORD_ID].str.len().eq(64).all()
    # The same customer has the same pseudonym in both datasets: the join still meets, on 100 customers.
    assert len(set(rows_a[RECORD_ID]) & set(rows_b[RECORD_ID])) == 100
    assert len(set(rows_a["email"]) & set(rows_b["email"])) == 100
    # Other columns are untouched, row for row.
    original = keyed.lifecycle.dataset_frame(a.id)
    assert rows_a["V1"].tolist() == original["V1"].tolist()
    # Labels keyed by pseudonymized ids meet the pseudonymized rows.
    labelled = keyed.label(dataset=pa_.id)
    assert labelled.imported == 200
    assert SECRET not in database_text(keyed)

    with pytest.raises(InvalidInput, match="'nope'"):
        keyed.privacy.pseudonymize(a.id, columns=["nope"])


def test_anonymization_reaches_k_or_is_refused_with_nothing_written(keyed: Crispml, people_csv: Path) -> None:
    raw = ingest(keyed, people_csv)
    result = keyed.privacy.anonymize(raw.id, k=5)
    report = result.report
    assert result.dataset.name == "people-anon" and result.dataset.parent_id == raw.id
    assert report["k_achieved"] >= 5 and report["quasi_identifiers"] == ["age", "zip"]
    assert 0 <= report["information_loss"] <= 1 and report["dropped"] == ["email"]
    rows = keyed.lifecycle.dataset_frame(result.dataset.id)
    assert rows.groupby(["age", "zip"]).size().min() == report["k_achieved"]
    assert len(rows) == raw.rows - report["rows_suppressed"] and "email" not in rows.columns
    assert result.dataset.params["anonymization"]["k_requested"] == 5

    diverse = keyed.privacy.anonymize(raw.id, k=3, l_diversity=3)  # the one column tagged sensitive
    rows = keyed.lifecycle.dataset_frame(diverse.dataset.id)
    assert rows.groupby(["age", "zip"])["diag"].nunique().min() >= 3 == diverse.report["l_requested"]

    datasets, before = len(keyed.datasets()), files(keyed)
    with pytest.raises(InvalidInput, match="refused: k=1000 not reached") as caught:
        keyed.privacy.anonymize(raw.id, k=1000)
    assert "nothing was written" in caught.value.message
    with pytest.raises(InvalidInput, match="l=5 on 'diag' not reached"):
        keyed.privacy.anonymize(raw.id, k=2, sensitive="diag", l_diversity=5)
    assert len(keyed.datasets()) == datasets and files(keyed) == before


def test_erasure_removes_the_subject_everywhere_and_keeps_the_record(keyed: Crispml, people_csv: Path) -> None:
    raw = ingest(keyed, people_csv)
    prepared = keyed.prepare(raw.id)
    curated = keyed.curate(prepared.id, algorithm="rf", frames="1-2")
    pseudo = keyed.privacy.pseudonymize(raw.id)
    model = keyed.train(curated.id, algorithm="rf", frames="1-2", name="risk", params=FAST_RF)
    keyed.score(model.ref, dataset=curated.id, frames="3-4")
    keyed.label(dataset=curated.id)
    subject = "c400"  # a customer in frame 4: scored and labelled
    with keyed.store.reading() as uow:
        scores_before, labels_before = uow.ledger.count(), uow.labels.count()
    old = {d.id: d for d in keyed.datasets()}

    erasure = keyed.privacy.erase("cust", subject)

    assert {v.old.id for v in erasure.versions} == {raw.id, prepared.id, curated.id, pseudo.id}
    assert all(v.rows_removed == 1 for v in erasure.versions)
    assert erasure.records == 2  # the customer id, and its pseudonym in the pseudonymized copy
    assert erasure.labels_deleted == 1 and erasure.scores_deleted == 1
    assert [m.ref for m in erasure.models] == [model.ref]
    with keyed.store.reading() as uow:
        assert uow.ledger.count() == scores_before - 1 and uow.labels.count() == labels_before - 1
    for version in erasure.versions:
        new = version.new
        assert (new.name, new.parent_id, new.rows) == (version.old.name, version.old.id, version.old.rows - 1)
        assert new.params["erasure"]["column"] == "cust" and subject not in str(new.params)
        kept = keyed.lifecycle.dataset_frame(new.id)
        assert subject not in set(kept[RECORD_ID])
        gone = keyed.lifecycle.get_dataset(version.old.id)  # metadata, lineage and hash stay
        assert (gone.removed, gone.removed_by, gone.sha256) == ("erased", "steward", old[gone.id].sha256)
        with pytest.raises(Erased, match="was erased"):
            keyed.lifecycle.dataset_frame(gone.id)
        with pytest.raises(Erased, match="was erased"):
            keyed.store.read_frame(gone.sha256)
        assert f"{gone.sha256}.parquet" not in files(keyed)
    new_curated = next(v.new for v in erasure.versions if v.old.id == curated.id)
    assert [n.id for n in keyed.lineage(new_curated.id) if n.kind == "dataset"][1:] == [curated.id, prepared.id, raw.id]

    again = keyed.privacy.erase("cust", subject)
    assert again.versions == [] and again.records == 0


def test_an_erasure_that_fails_midway_changes_nothing(
    keyed: Crispml, people_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = ingest(keyed, people_csv)
    keyed.label(dataset=raw.id)
    before_files, before = files(keyed), keyed.datasets()
    with keyed.store.reading() as uow:
        labels_before = uow.labels.count()

    def broken(_self: LedgerRepository, _ids: object) -> int:
        raise OSError("disk gone")

    monkeypatch.setattr(LedgerRepository, "delete_records", broken)
    with pytest.raises(OSError, match="disk gone"):
        keyed.privacy.erase("email", "user7@example.org")
    assert keyed.datasets() == before
    assert files(keyed) == before_files and not any(n.startswith(STAGED_MARK) for n in files(keyed))
    with keyed.store.reading() as uow:
        assert uow.labels.count() == labels_before


def test_erasure_by_a_numeric_column_and_a_bad_key(keyed: Crispml, people_csv: Path) -> None:
    raw = ingest(keyed, people_csv)
    ages = keyed.lifecycle.dataset_frame(raw.id)["age"]
    erasure = keyed.privacy.erase("age", str(int(ages.iloc[0])))
    assert erasure.versions[0].rows_removed == int((ages == ages.iloc[0]).sum())
    with pytest.raises(InvalidInput, match="COLUMN=VALUE"):
        keyed.privacy.erase("age", "")


def test_retention_expires_old_versions_but_keeps_what_registered_models_need(keyed: Crispml, people_csv: Path) -> None:
    raw = ingest(keyed, people_csv)
    prepared = keyed.prepare(raw.id)
    curated = keyed.curate(prepared.id, algorithm="rf", frames="1-2")
    model = keyed.train(curated.id, algorithm="rf", frames="1-2", name="risk", params=FAST_RF)
    keyed.persist(model.ref)
    spare = keyed.prepare(raw.id, name="spare")
    assert keyed.privacy.set_retention("people", 30) == {"people": 30}
    assert keyed.privacy.set_retention("spare", 0) == {"people": 30, "spare": 0}
    with pytest.raises(InvalidInput, match="retention of -1 days"):
        keyed.privacy.set_retention("spare", -1)

    soon = keyed.privacy.apply_retention()  # people/1 is young, spare/1 expires at once
    # spare/1 holds the same rows as people-prep/1, so their one file stays for the live version.
    assert [d.id for d in soon.expired] == [spare.id] and soon.kept == [] and soon.files_deleted == 0
    assert keyed.lifecycle.get_dataset(spare.id).removed == "expired"
    with pytest.raises(Erased, match="spare/1 was expired"):
        keyed.lifecycle.dataset_frame(spare.id)

    later = keyed.privacy.apply_retention(as_of=raw.created_at + timedelta(days=31))
    assert later.expired == [] and [(d.id, refs) for d, refs in later.kept] == [(raw.id, [model.ref])]
    assert keyed.lifecycle.dataset_frame(raw.id).shape[0] == raw.rows

    forced = keyed.privacy.apply_retention(force=True, as_of=raw.created_at + timedelta(days=31))
    assert [d.id for d in forced.expired] == [raw.id] and forced.files_deleted == 1
    with pytest.raises(Erased, match="was expired"):
        keyed.lifecycle.dataset_frame(raw.id)
    assert keyed.privacy.set_retention("people", None) == {"spare": 0}
    assert keyed.privacy.retention() == {"spare": 0}


def test_the_pseudonym_key_from_the_environment_is_never_stored(
    home: Path, database_url: str | None, people_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRISPML_PSEUDONYM_KEY_FILE", raising=False)
    monkeypatch.setenv("CRISPML_PSEUDONYM_KEY", SECRET)
    with crispml.connect(home=home, database_url=database_url) as cml:
        raw = ingest(cml, people_csv)
        cml.privacy.pseudonymize(raw.id)
        cml.privacy.erase("cust", "c1")
        text = database_text(cml)
        assert "steward" not in text and "people" in text  # the scan reads the tables
        assert SECRET not in text and SECRET not in repr(cml.settings)
