"""Timestamps come back aware, in UTC, on SQLite as on PostgreSQL, whatever zone they went in with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from crispml.local import Crispml
from crispml.storage.timestamps import UtcDateTime


def test_stored_timestamps_read_back_aware_and_equal(cml: Crispml) -> None:
    table = Table("stamps", MetaData(), Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))
    utc = datetime(2026, 11, 29, 18, 0, 0, 123456, tzinfo=UTC)
    elsewhere = datetime(2026, 11, 29, 20, 0, tzinfo=timezone(timedelta(hours=2)))  # 18:00 UTC
    with cml.store.transaction() as repo:
        table.create(repo.connection)
        repo.connection.execute(
            insert(table), [{"id": 1, "at": utc}, {"id": 2, "at": elsewhere}, {"id": 3, "at": None}]
        )
    with cml.store.reading() as repo:
        found = dict(repo.connection.execute(select(table.c.id, table.c.at)).all())
    assert found == {1: utc, 2: elsewhere, 3: None}
    assert found[1].tzinfo is UTC and found[2].tzinfo is UTC and found[2].hour == 18


def test_a_naive_timestamp_is_refused_rather_than_guessed(cml: Crispml) -> None:
    table = Table("stamps", MetaData(), Column("id", Integer, primary_key=True), Column("at", UtcDateTime()))
    with pytest.raises(Exception, match="naive timestamp"), cml.store.transaction() as repo:
        table.create(repo.connection)
        repo.connection.execute(insert(table), [{"id": 1, "at": datetime(2026, 11, 29)}])


def test_datasets_perf_records_and_jobs_keep_their_time_zone(cml: Crispml, small_csv: object) -> None:
    from crispml.domain import SourceSpec

    raw = cml.ingest(SourceSpec(path=str(small_csv)), name="ccf", percent_data=0.05)
    assert cml.lifecycle.get_dataset(raw.id).created_at.tzinfo is UTC
    assert cml.lineage(raw.id)[0].detail["created_at"].endswith("+00:00")
    cml.store.group_commit.flush()
    records, _summaries = cml.operations.perf("ingest")
    assert records and all(r.started_at.tzinfo is UTC for r in records)
