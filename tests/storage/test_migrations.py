"""Migrations carry existing data forward on both backends."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

import crispml
from crispml.storage.database import alembic_config, make_engine
from crispml.storage.schema import metadata

NOW = datetime(2026, 11, 25, tzinfo=UTC)


def test_a_store_with_scores_upgrades_to_the_lean_ledger(database_url: str | None, tmp_path: Path) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'home' / 'crispml.db'}"
    engine = make_engine(url)
    command.upgrade(alembic_config(engine), "0002")
    rows = {
        "datasets": {"id": "ds-1", "name": "ccf", "version": 1, "stage": "raw", "sha256": "0" * 64, "rows": 2,
                     "frames": 1, "target": "Class", "columns": "{}", "params": "{}", "report": "{}",
                     "source": "x.csv", "created_by": "t", "created_at": NOW},
        "model_versions": {"id": "mv-1", "name": "fraud", "version": 1, "algorithm": "rf", "params": "{}",
                           "class_weight": 10.0, "threshold": 0.3, "dataset_id": "ds-1", "frames": "[1]",
                           "features": "[]", "pipeline": "[]", "metrics": "{}", "artifact_sha256": "0" * 64,
                           "artifact_format": "skops", "registered": True, "created_by": "t", "created_at": NOW},
        "score_batches": {"id": "sb-1", "model_version_id": "mv-1", "request_sha256": "0" * 64, "source": "x",
                          "rows": 2, "created_by": "t", "created_at": NOW},
    }  # fmt: skip
    with engine.begin() as connection:
        for table, row in rows.items():
            names = ", ".join(row)
            connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({', '.join(':' + k for k in row)})"), row)
        for record, score in (("r1", 0.9), ("r2", 0.1)):
            connection.execute(
                text(
                    "INSERT INTO scores (batch_id, record_id, model_version_id, frame, score, decision, threshold, "
                    "scored_at) VALUES ('sb-1', :r, 'mv-1', 1, :s, :d, 0.3, :t)"
                ),
                {"r": record, "s": score, "d": int(score >= 0.3), "t": NOW},
            )
    engine.dispose()
    # Opening the store upgrades it to the newest migration.
    with crispml.connect(home=tmp_path / "home", database_url=database_url) as cml, cml.store.transaction() as repo:
        ledger = repo.connection.execute(
            text("SELECT record_id, model_version_id, score, threshold FROM score_ledger ORDER BY record_id")
        ).all()
        assert [tuple(r) for r in ledger] == [("r1", "mv-1", 0.9, 0.3), ("r2", "mv-1", 0.1, 0.3)]
        assert repo.ledger.count() == 2
    with crispml.connect(home=tmp_path / "home", database_url=database_url) as cml:
        model = cml.lifecycle.get_model("fraud/1")
        assert model.twin_sha256 is None  # trained before twins were stored: scoring compiles one in memory

    # Down to the lean ledger and up again: the scores survive both table rebuilds.
    engine = make_engine(url)
    command.downgrade(alembic_config(engine), "0003")
    command.upgrade(alembic_config(engine), "head")
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT count(*) FROM score_ledger")) == 2
    engine.dispose()


def test_request_ids_on_perf_records_and_jobs_upgrade_and_downgrade(database_url: str | None, tmp_path: Path) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'crispml.db'}"
    engine = make_engine(url)
    config = alembic_config(engine)
    command.upgrade(config, "0011")
    perf = ("INSERT INTO perf_records (method, started_at, duration_s, peak_rss_mb, cpu_s, gc_runs, outcome, pid"
            "{}) VALUES ('score', :t, 0.1, 10, 0.1, 0, 'ok', 1{})")  # fmt: skip
    job = ("INSERT INTO jobs (id, kind, status, params, progress, cancel_requested, owner, created_by, created_at"
           "{}) VALUES (:id, 'ingest', 'succeeded', '{{}}', 1, false, 'h:1', 't', :t{})")  # fmt: skip
    with engine.begin() as connection:
        connection.execute(text(perf.format("", "")), {"t": NOW})
        connection.execute(text(job.format("", "")), {"id": "job-old", "t": NOW})
    command.upgrade(config, "head")
    with engine.begin() as connection:
        connection.execute(text(perf.format(", request_id", ", 'req-1'")), {"t": NOW})
        connection.execute(text(job.format(", request_id", ", 'req-1'")), {"id": "job-new", "t": NOW})
        assert connection.execute(text("SELECT request_id FROM perf_records ORDER BY id")).scalars().all() == [
            None, "req-1"
        ]  # fmt: skip
        assert connection.execute(text("SELECT request_id FROM jobs ORDER BY id")).scalars().all() == ["req-1", None]
        # schema.py says what the migrations made.
        assert compare_metadata(MigrationContext.configure(connection), metadata) == []

    command.downgrade(config, "0011")
    with engine.connect() as connection:
        assert "request_id" not in {c["name"] for c in inspect(connection).get_columns("jobs")}
        assert "request_id" not in {c["name"] for c in inspect(connection).get_columns("perf_records")}
        assert connection.scalar(text("SELECT count(*) FROM jobs")) == 2
        assert connection.scalar(text("SELECT count(*) FROM perf_records")) == 2
    command.upgrade(config, "head")
    engine.dispose()
