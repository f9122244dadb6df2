"""Every state change appends exactly its audit event, in its own transaction, with the acting principal
and the request id; a failed change appends nothing; a model row is bound to its artifact by its event."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import crispml
from crispml.domain import AuditEvent, AuditQuery
from crispml.errors import IntegrityFailure, InvalidInput, NotFound
from crispml.identity import Principal, Role, acting_as, serving_request
from crispml.local import Crispml
from tests.conftest import FAST_RF, crispml_source
from tests.storage.test_group_commit import records


def _events(cml: Crispml) -> list[AuditEvent]:
    """Every event, oldest first."""
    found, _ = cml.audit.events(AuditQuery(), limit=1000)
    return found[::-1]


@contextmanager
def _new_events(cml: Crispml, expected: int) -> Iterator[list[AuditEvent]]:
    """The events the block appended (exactly `expected` of them), oldest first."""
    before = len(_events(cml))
    appended: list[AuditEvent] = []
    yield appended
    cml.store.flush()
    appended.extend(_events(cml)[before:])
    assert len(appended) == expected, [(e.action, e.resource) for e in appended]


@contextmanager
def _as(name: str, request: str) -> Iterator[None]:
    with acting_as(Principal(name, Role.ADMIN)), serving_request(request):
        yield


def test_each_training_side_change_appends_its_event(cml: Crispml, small_csv: Path) -> None:
    with _new_events(cml, 1) as ingested, _as("steward", "rq-ingest"):
        raw = cml.ingest(crispml_source(small_csv), name="ccf")
    with _new_events(cml, 1) as prepared, _as("steward", "rq-prepare"):
        prep = cml.prepare(raw.id)
    with _new_events(cml, 1) as curated, _as("steward", "rq-curate"):
        cur = cml.curate(prep.id, algorithm="rf", frames="1-6")
    with _new_events(cml, 1) as trained, _as("scientist", "rq-train"):
        model = cml.train(cur.id, algorithm="rf", frames="1-6", name="fraud", params=FAST_RF)
    for events, action, dataset, who, request in (
        (ingested, "dataset.ingest", raw, "steward", "rq-ingest"),
        (prepared, "dataset.prepare", prep, "steward", "rq-prepare"),
        (curated, "dataset.curate", cur, "steward", "rq-curate"),
    ):
        (event,) = events
        assert (event.action, event.resource, event.principal, event.request_id) == (
            action, f"dataset:{dataset.id}", who, request
        )  # fmt: skip
        assert event.before is None and event.after["sha256"] == dataset.sha256
    (event,) = trained
    assert (event.action, event.resource, event.principal, event.request_id) == (
        "model.train", "model:fraud/1", "scientist", "rq-train"
    )  # fmt: skip
    assert event.after["artifact_sha256"] == model.artifact_sha256
    assert event.after["twin_sha256"] == model.twin_sha256 and event.after["id"] == model.id
    assert cml.audit.verify() == 4


def test_alias_moves_and_deletions_keep_their_history(trained: Crispml) -> None:
    first = trained.lifecycle.get_model("fraud/1")
    curated = trained.lifecycle.get_dataset(first.dataset_id)
    second = trained.train(curated.id, algorithm="rf", frames="1-6", name="fraud", params=FAST_RF)
    with _new_events(trained, 2) as moved, _as("admin-ann", "rq-persist"):
        trained.persist(second.ref, alias="champion")
    register, alias_set = moved
    assert (register.action, register.resource, register.before, register.after["registered"]) == (
        "model.register", "model:fraud/2", {"registered": False}, True
    )  # fmt: skip
    assert (alias_set.action, alias_set.resource, alias_set.principal, alias_set.request_id) == (
        "alias.set", "alias:fraud@champion", "admin-ann", "rq-persist"
    )  # fmt: skip
    assert alias_set.before["model"] == "fraud/1" and alias_set.after["model"] == "fraud/2"
    with _new_events(trained, 1) as again:
        trained.persist(second.ref, alias="challenger")  # registered already: only the alias event
    assert again[0].action == "alias.set" and again[0].before is None and again[0].principal == "tester"
    with _new_events(trained, 1) as deleted, _as("admin-bo", "rq-delete"):
        trained.lifecycle.delete_alias("fraud", "champion")
    (event,) = deleted
    assert (event.action, event.resource, event.principal, event.request_id) == (
        "alias.delete", "alias:fraud@champion", "admin-bo", "rq-delete"
    )  # fmt: skip
    assert event.before["model"] == "fraud/2" and event.after is None


def test_a_failed_change_appends_no_event(trained: Crispml) -> None:
    with _new_events(trained, 0):
        with pytest.raises(NotFound):
            trained.lifecycle.delete_alias("fraud", "nothing")
        with pytest.raises(NotFound):
            trained.persist("fraud/9", alias="champion")
        with pytest.raises(InvalidInput):
            trained.label(records=[])
        with pytest.raises(InvalidInput):
            trained.score("fraud@champion", records=[{"record_id": "x", "V1": "not a number"}])


def test_label_imports_record_the_labels_they_replace(trained: Crispml) -> None:
    with _new_events(trained, 1) as first, _as("scorer-sam", "rq-label-1"):
        trained.label(records=[{"record_id": "r-1", "label": 0}, {"record_id": "r-2", "label": 1}])
    assert first[0].action == "labels.import" and first[0].before["replaced"] == 0
    assert (first[0].principal, first[0].request_id, first[0].after["labels"]) == ("scorer-sam", "rq-label-1", 2)
    with _new_events(trained, 1) as second:
        report = trained.label(records=[{"record_id": "r-1", "label": 1}, {"record_id": "r-3", "label": 0}])
    (event,) = second
    assert event.resource == f"labels:{report.import_id}"
    assert event.before["replaced"] == 1 and event.before["old_labels"] == {"r-1": 0}
    assert event.before["old_labels_sha256"] and event.after["positives"] == 1


def test_score_batches_append_one_event_each_also_on_the_hot_path(trained: Crispml,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr("crispml.services.model_refs.REF_TTL_S", 600.0)  # a slow machine must not expire it
    with _new_events(trained, 1) as scored, _as("scorer-sue", "rq-score"):
        result = trained.score("fraud@champion", records=records(trained, ["s-1", "s-2"]))
    (event,) = scored
    assert (event.action, event.resource, event.principal, event.request_id) == (
        "score.batch", "model:fraud/1", "scorer-sue", "rq-score"
    )  # fmt: skip
    assert event.after == {"batch": result.batch.id, "rows": 2}
    hot_requests = [records(trained, [f"h-{n}"]).to_dict("records") for n in range(5)]
    with _new_events(trained, 5) as hot:
        pending = []
        for n, request in enumerate(hot_requests):
            with _as(f"scorer-{n}", f"rq-hot-{n}"):
                found = trained.scoring.score_hot("fraud@champion", request)
            assert found is not None
            pending.append(found)
        batches = {p.durable.result(timeout=60) or p.result().batch.id for p in pending}
    assert {e.after["batch"] for e in hot} == batches and {e.resource for e in hot} == {"model:fraud/1"}
    assert {(e.principal, e.request_id) for e in hot} == {(f"scorer-{n}", f"rq-hot-{n}") for n in range(5)}
    assert trained.audit.verify() == len(_events(trained))


def test_a_job_cancel_appends_its_event(cml: Crispml) -> None:
    def work(progress: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            progress("waiting", 0.1)
            time.sleep(0.05)
        return {}

    job = cml.jobs.submit("test", {}, work)
    while cml.jobs.get(job.id).status.value == "queued":
        time.sleep(0.02)
    with _new_events(cml, 1) as cancelled, _as("admin-cy", "rq-cancel"):
        cml.jobs.cancel(job.id)
    (event,) = cancelled
    assert (event.action, event.resource, event.principal, event.request_id) == (
        "job.cancel", f"job:{job.id}", "admin-cy", "rq-cancel"
    )  # fmt: skip
    assert event.before == {"status": "running", "cancel_requested": False}
    assert event.after == {"status": "running", "cancel_requested": True}
    assert cml.jobs.wait(job.id, 30).status.value == "cancelled"


def test_a_model_row_pointed_at_another_artifact_fails_at_load(trained: Crispml, home: Path,
                                                               database_url: str | None) -> None:  # fmt: skip
    first = trained.lifecycle.get_model("fraud/1")
    curated = trained.lifecycle.get_dataset(first.dataset_id)
    other = trained.train(curated.id, algorithm="rf", frames="1-6", name="other", params={"n_estimators": 7})
    with trained.container.engine.begin() as connection:
        connection.execute(
            text("UPDATE model_versions SET artifact_sha256 = :sha, twin_sha256 = :twin WHERE id = :id"),
            {"sha": other.artifact_sha256, "twin": other.twin_sha256, "id": first.id},
        )
    # A fresh process reads the edited row; every hash check of the artifact itself would pass.
    with crispml.connect(home=home, database_url=database_url, user="tester") as fresh:
        with pytest.raises(IntegrityFailure, match="model fraud/1: its row names artifact"):
            fresh.score("fraud@champion", records=records(fresh, ["t-1"]))
        with pytest.raises(IntegrityFailure, match="model fraud/1"):
            fresh.report("fraud/1", frames="7")
        fresh.score("other/1", records=records(fresh, ["t-2"]))  # an untouched model still scores
        assert fresh.audit.verify() == len(_events(fresh))  # the log itself is intact
