"""The whole method chain on a store whose files are encrypted at rest, on SQLite and PostgreSQL: it works,
the files on disk hold no plaintext, and a store opened without the key refuses them by name."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import crispml
from crispml.domain import SourceSpec
from crispml.errors import InvalidInput, Unavailable
from crispml.storage.encryption import MAGIC
from tests.conftest import FAST_RF

KEY = "7u4Zs1oGJpQ2Rp0mK3cS9l1Wv8bqz2hX5yF0dT6aJ4E="


def artifact_files(home: Path) -> list[Path]:
    return sorted(p for p in (home / "artifacts").rglob("*") if p.is_file())


def test_the_chain_runs_on_an_encrypted_store_and_no_file_holds_plaintext(
    home: Path, database_url: str | None, small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRISPML_ENCRYPTION_KEY", KEY)
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        raw = cml.ingest(SourceSpec(path=str(small_csv)), name="ccf")
        curated = cml.curate(cml.prepare(raw.id).id, algorithm="rf", frames="1-6")
        model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud", params=FAST_RF)
        cml.persist(model.ref, alias="champion")
        records = pd.read_csv(small_csv).head(3).drop(columns=["Class"])
        one = cml.score("fraud@champion", records=records)
        batch = cml.score("fraud@champion", dataset=curated.id, frames="7-12")
        verification = cml.verify("fraud@champion", frames="7-12")
    assert len(one.scores) == 3 and one.scores["score"].between(0, 1).all()
    assert len(batch.scores) == batch.batch.rows > 0
    assert {row["frame"] for row in verification.rows} >= set(range(7, 13))

    files = artifact_files(home)
    assert {p.parent.name for p in files} == {"datasets", "models"}
    assert len(files) >= 3
    for path in files:
        data = path.read_bytes()
        assert data.startswith(MAGIC), path
        # Parquet opens and ends with PAR1, skops is a zip (PK), and the column names would show.
        assert not data.startswith((b"PAR1", b"PK")) and not data.endswith(b"PAR1"), path
        for word in (b"Amount", b"Class", b"record_id", b"sklearn", b"RandomForest"):
            assert word not in data, (path, word)

    # The same store opened without the key: every read names the key it needs; nothing is changed.
    monkeypatch.delenv("CRISPML_ENCRYPTION_KEY")
    with crispml.connect(home=home, database_url=database_url, user="tester") as keyless:
        with pytest.raises(Unavailable, match=r"is encrypted with key [0-9a-f]{16} and no encryption key"):
            keyless.prepare(raw.id)
        with pytest.raises(Unavailable, match="no encryption key is configured"):
            keyless.score("fraud@champion", records=records)
    assert artifact_files(home) == files


def test_a_store_written_in_plaintext_keeps_working_once_a_key_is_set(
    home: Path, database_url: str | None, small_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with crispml.connect(home=home, database_url=database_url, user="tester") as plain:
        raw = plain.ingest(SourceSpec(path=str(small_csv)), name="ccf")
    (old,) = artifact_files(home)
    assert old.read_bytes().startswith(b"PAR1")
    monkeypatch.setenv("CRISPML_ENCRYPTION_KEY", KEY)
    with crispml.connect(home=home, database_url=database_url, user="tester") as cml:
        assert cml.lifecycle.dataset_frame(raw.id).shape[0] == raw.rows
        half = cml.ingest(SourceSpec(path=str(small_csv)), name="half", percent_data=0.5)
    new = [p for p in artifact_files(home) if p != old]
    assert [p.name for p in new] == [f"{half.sha256}.parquet"]
    assert old.read_bytes().startswith(b"PAR1") and new[0].read_bytes().startswith(MAGIC)


def test_a_bad_key_is_refused_before_the_store_is_opened(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRISPML_ENCRYPTION_KEY", "c2hvcnQ=")
    with pytest.raises(InvalidInput, match="CRISPML_ENCRYPTION_KEY: the encryption key is 5 bytes"):
        crispml.connect(home=home)
    assert not home.exists()
