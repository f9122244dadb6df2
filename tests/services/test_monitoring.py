"""Drift monitoring through the Python API: the generator shifts V3 and V11 from frame 7 on, a forest is
trained on frames 1-6, and monitoring must flag exactly those two, over a dataset's frames and over the
records scored online (the input log)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import update

import crispml
from crispml.domain import AuditQuery
from crispml.errors import InvalidInput, NotFound, Unavailable
from crispml.local import Crispml
from crispml.observability import metrics
from crispml.services.synthesis import write_synthetic
from crispml.steps.synthetic import Drift
from crispml.storage import schema
from crispml.storage.encryption import KeyRing, generate_key, is_encrypted
from crispml.storage.input_log import InputLog
from tests.conftest import FAST_RF, crispml_source

ROWS = 12_000
SHIFTED = {"V3": 1.5, "V11": -2.0}


@pytest.fixture(scope="module")
def drifted_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("drifted")
    return write_synthetic(folder / "drifted.csv", ROWS, seed=42, drift=Drift(from_frame=7, shift=SHIFTED))


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory, drifted_csv: Path) -> Iterator[Crispml]:
    """A champion trained on frames 1-6 of the drifted data (one store for the module: training is the cost)."""
    home = tmp_path_factory.mktemp("monitoring") / "home"
    with crispml.connect(home=home, user="watcher") as cml:
        raw = cml.ingest(crispml_source(drifted_csv), name="ccf")
        curated = cml.curate(cml.prepare(raw.id).id, algorithm="rf", frames="1-6")
        model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud", params=FAST_RF)
        cml.persist(model.ref, alias="champion")
        yield cml


def overall(rows: list[dict[str, object]], key: str) -> dict[object, dict[str, object]]:
    return {row["feature"]: row for row in rows if row[key] == "all"}


def test_frames_7_to_12_flag_the_shifted_features_and_only_them(watched: Crispml) -> None:
    found = watched.monitor("fraud@champion", frames="7-12")
    assert found.model_version == "fraud/1" and found.reference["frames"] == [1, 2, 3, 4, 5, 6]
    assert sorted(found.alarms) == ["V11", "V3"] and found.warnings == []
    every = overall(found.rows, "frame")
    assert set(every) == {*watched.models()[0].features, "score"}
    for name, row in every.items():
        if name in SHIFTED:
            assert row["level"] == "alarm" and float(row["psi"]) > 1.0  # type: ignore[arg-type]
        elif name == "Time":  # a clock: later frames lie past the training range, measured but not judged
            assert row["level"] == "ignored"
        else:
            assert row["level"] == "ok" and float(row["psi"]) < 0.05, (name, row)  # type: ignore[arg-type]
    for frame in range(7, 13):  # every frame on its own says the same
        per_frame = {r["feature"]: r for r in found.rows if r["frame"] == frame}
        assert per_frame["V3"]["level"] == per_frame["V11"]["level"] == "alarm"
        assert per_frame["V3"]["rows"] == ROWS // 12
    # Exported for Prometheus: one series per feature of the model.
    exposed = metrics.exposition().decode()
    assert 'crispml_drift_level{feature="V3",model="fraud",version="1"} 2.0' in exposed
    assert 'crispml_drift_level{feature="V1",model="fraud",version="1"} 0.0' in exposed
    print({name: row["psi"] for name, row in every.items()})  # the figures quoted in the closing note


def test_the_training_frames_do_not_drift_from_themselves(watched: Crispml) -> None:
    found = watched.monitor("fraud@champion", frames="1-6")
    assert found.alarms == [] and found.warnings == []


def test_records_scored_online_are_kept_and_monitored_since(watched: Crispml, drifted_csv: Path) -> None:
    data = pd.read_csv(drifted_csv)
    late = data.iloc[ROWS - 1_000 :].drop(columns=["Class"])  # frame 12: shifted
    scored = watched.score("fraud@champion", records=late.to_dict(orient="records"))
    found = watched.monitor("fraud@champion", since="1h")
    assert sorted(found.alarms) == ["V11", "V3"] and found.warnings == []
    every = overall(found.rows, "period")
    assert every["V3"]["rows"] == 1_000 and found.source.startswith("records scored since")
    assert {r["period"] for r in found.rows} == {"all", f"{datetime.now(UTC):%Y-%m-%dT%H}:00Z"}
    # The log is Parquet per model version and hour, holding what the model saw and what it answered.
    model = watched.models()[0]
    files = list((watched.settings.input_log_root / model.id).glob("*/*.parquet"))
    assert files
    kept = pd.concat([pd.read_parquet(f) for f in files])
    assert set(scored.scores["record_id"]) <= set(kept["record_id"])
    assert np.allclose(np.sort(kept["V3"].to_numpy()[-1_000:]), np.sort(late["V3"].to_numpy()))
    # Dataset scoring is not logged: its inputs are the dataset.
    before = len(kept)
    watched.score("fraud@champion", dataset="ccf-cur", frames="12")
    watched.container.input_log.flush()  # type: ignore[union-attr]
    assert (
        sum(len(pd.read_parquet(f)) for f in (watched.settings.input_log_root / model.id).glob("*/*.parquet")) == before
    )


def test_retention_deletes_old_hours_and_keeps_recent_ones(watched: Crispml) -> None:
    log = watched.container.input_log
    assert log is not None
    model = watched.models()[0]
    old = datetime.now(UTC) - log.retention - timedelta(hours=2)
    log.append(model.id, model.features, np.zeros((2, len(model.features))), ["a", "b"], [0.1, 0.2], at=old)
    log.append(model.id, model.features, np.zeros((1, len(model.features))), ["c"], [0.3])
    log.flush()
    assert f"{old:%Y-%m-%dT%H}" in log.hours(model.id)
    assert log.prune() >= 1
    hours = log.hours(model.id)
    assert f"{old:%Y-%m-%dT%H}" not in hours and f"{datetime.now(UTC):%Y-%m-%dT%H}" in hours
    (event,) = watched.audit.events(AuditQuery(action="input-log.retention"))[0]
    assert f"{model.id}/{old:%Y-%m-%dT%H}" in event.after["hours_deleted"]


def test_a_version_without_a_profile_says_so(watched: Crispml) -> None:
    # A version trained before profiles existed: the migration left its profile empty.
    model = watched.train("ccf-cur", algorithm="rf", frames="1-6", name="older", params=FAST_RF)
    with watched.container.engine.begin() as connection:
        connection.execute(
            update(schema.model_versions).where(schema.model_versions.c.id == model.id).values(profile_sha256=None)
        )
    with pytest.raises(NotFound, match=r"model older/1 has no reference profile: .*train a new version"):
        watched.monitor("older/1", frames="7-12")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"since": "yesterday"}, "is neither a duration like 24h"),
        ({"since": "1h", "frames": "7-12"}, "not both"),
        ({"frames": "13"}, "13"),
    ],
)
def test_bad_monitoring_requests_are_refused_by_name(watched: Crispml, options: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        watched.monitor("fraud@champion", **options)  # type: ignore[arg-type]


def test_with_an_encryption_key_the_input_log_is_encrypted_too(tmp_path: Path) -> None:
    keys = KeyRing.load(generate_key(), None)
    log = InputLog(tmp_path / "input-log", retention_h=24, keys=keys)
    log.append("mv-1", ("V1", "V2"), np.array([[1.25, -3.5]]), ["subject-42"], [0.75])
    assert log.flush() == 1
    (written,) = (tmp_path / "input-log" / "mv-1").glob("*/*.parquet")
    assert is_encrypted(written) and b"subject-42" not in written.read_bytes()
    read = log.read("mv-1", datetime.now(UTC) - timedelta(minutes=5))
    assert read[["record_id", "score", "V1", "V2"]].to_dict(orient="records") == [
        {"record_id": "subject-42", "score": 0.75, "V1": 1.25, "V2": -3.5}
    ]
    with pytest.raises(Unavailable):
        InputLog(tmp_path / "input-log", retention_h=24).read("mv-1", datetime.now(UTC) - timedelta(minutes=5))


def test_erasing_a_subject_removes_their_records_from_the_input_log(watched: Crispml, tmp_path: Path) -> None:
    other = write_synthetic(tmp_path / "other.csv", 1_200, seed=99)  # rows no other test's dataset holds
    watched.ingest(crispml_source(other), name="other")
    records = pd.read_csv(other).drop(columns=["Class"]).iloc[:5].to_dict(orient="records")
    ids = list(watched.score("fraud@champion", records=records).scores["record_id"])
    model = watched.models()[0]
    log = watched.container.input_log
    assert log is not None
    erased = watched.privacy.erase("record_id", ids[0])
    assert erased.records == 1
    kept = set(log.read(model.id, datetime.now(UTC) - timedelta(hours=2))["record_id"])
    assert ids[0] not in kept and set(ids[1:]) <= kept
