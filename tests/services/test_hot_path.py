"""The hot path (`score_hot`): a few records handed to the group commit, scored by the writer with the
other requests of their group for one model, each answered its own rows once committed.

The tests run on SQLite and PostgreSQL; the writer is gated as in tests/storage/test_group_commit.py.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from crispml.domain import FRAME, RECORD_ID, Outcome
from crispml.local import Crispml
from crispml.services.scoring import ScoreResult
from crispml.storage.group_commit import GroupCommit
from tests.storage.test_group_commit import Gate, ledger, queue_behind_gate, records


@pytest.fixture(autouse=True)
def references_stay_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warmed-up reference stays resolved for the test: a busy machine must not expire it between the
    warm-up and the hot call (its expiry is tests/services/test_scoring.py's subject)."""
    monkeypatch.setattr("crispml.services.model_refs.REF_TTL_S", 600.0)


def test_the_hot_path_waits_for_a_resolved_reference_and_a_loaded_model(trained: Crispml) -> None:
    request = records(trained, ["h-1"]).to_dict("records")
    assert trained.scoring.score_hot("fraud@champion", request) is None  # not resolved in this process yet
    trained.score("fraud@champion", records=records(trained, ["warm-up"]))
    assert trained.scoring.score_hot("fraud@other", request) is None
    text = [{**request[0], "V1": "1.5"}]
    assert trained.scoring.score_hot("fraud@champion", text) is None  # the frame path names what it refuses
    many = records(trained, [f"m-{i}" for i in range(65)]).to_dict("records")
    assert trained.scoring.score_hot("fraud@champion", many) is None


def test_the_hot_path_answers_what_score_answers_once_committed(trained: Crispml) -> None:
    trained.score("fraud@champion", records=records(trained, ["warm-up"]))
    request = records(trained, ["h-1", "h-2", "h-3"]).to_dict("records")
    hot = trained.scoring.score_hot("fraud@champion", request)
    assert hot is not None
    assert hot.durable.result(timeout=60) is None
    result = hot.result()
    stored = trained.scoring.batch(result.batch.id)
    assert stored.records.record_ids == ["h-1", "h-2", "h-3"] == result.records.record_ids
    assert stored.records.scores == result.records.scores
    again = trained.score("fraud@champion", records=[{**r, RECORD_ID: f"again-{r[RECORD_ID]}"} for r in request])
    assert again.records.scores == result.records.scores
    assert trained.store.group_commit.flush()
    with trained.store.transaction() as repo:
        perf = [r for r in repo.perf.newest() if r.method == "score" and r.rows_in == 3]
    assert perf and all(r.outcome == Outcome.OK and r.model == "fraud/1" for r in perf)


def test_a_model_being_read_does_not_hold_up_the_hot_path_of_another(trained: Crispml) -> None:
    trained.score("fraud@champion", records=records(trained, ["warm-up"]))
    models = trained.model_cache
    real_load, reading, release = models._load, threading.Event(), threading.Event()
    unknown = "f" * 64

    def slow_load(sha256: str, artifact_format: str) -> Any:
        if sha256 != unknown:
            return real_load(sha256, artifact_format)
        reading.set()
        release.wait(60)
        raise FileNotFoundError(sha256)

    models._load = slow_load
    request = records(trained, ["while-reading"]).to_dict("records")
    with ThreadPoolExecutor(2) as pool:
        other = pool.submit(trained.model_cache.scorer, unknown, "skops", 1)
        try:
            assert reading.wait(60)
            hot = pool.submit(trained.scoring.score_hot, "fraud@champion", request).result(timeout=30)
            assert hot is not None and hot.durable.result(timeout=60) is None
        finally:
            release.set()
        with pytest.raises(FileNotFoundError):
            other.result(timeout=60)
    assert "while-reading" in ledger(trained)[RECORD_ID].tolist()


def test_a_failed_hot_commit_fails_its_future_and_writes_nothing(trained: Crispml) -> None:
    trained.score("fraud@champion", records=records(trained, ["warm-up"]))
    gate = Gate(trained.store, fail_commits=True)
    gate.opened.set()
    trained.store.group_commit = GroupCommit(gate)
    hot = trained.scoring.score_hot("fraud@champion", records(trained, ["lost-1"]).to_dict("records"))
    assert hot is not None
    with pytest.raises(OSError, match="disk full"):
        hot.durable.result(timeout=60)
    with pytest.raises(OSError, match="disk full"):
        hot.result()
    assert ledger(trained)[RECORD_ID].tolist() == ["warm-up"]


def test_hot_requests_of_one_group_are_scored_by_one_call_each_answered_its_own_rows(trained: Crispml) -> None:
    trained.score("fraud@champion", records=records(trained, ["warm-up"]))
    model = trained.lifecycle.get_model("fraud@champion")
    twin = trained.model_cache.scorer(model.artifact_sha256, model.artifact_format, 1, model.twin_sha256).twin
    assert twin is not None
    scored_rows: list[int] = []
    real_positive = twin.positive
    twin.positive = lambda matrix: (scored_rows.append(len(matrix)), real_positive(matrix))[1]  # type: ignore[method-assign]
    gate = Gate(trained.store)
    writer = trained.store.group_commit = GroupCommit(gate)
    raw = trained.lifecycle.dataset_frame("ccf")
    later = raw[raw[FRAME] >= 7].drop(columns=["Class", FRAME])
    requests = [later.iloc[3 * k : 3 * k + 3].to_dict("records") for k in range(8)]

    def hot(request: list[dict[str, Any]]) -> ScoreResult:
        pending = trained.scoring.score_hot("fraud@champion", request)
        assert pending is not None
        pending.durable.result(timeout=60)
        return pending.result()

    results = queue_behind_gate(writer, gate, [lambda r=r: hot(r) for r in requests])

    assert scored_rows == [3, 3 * 7]  # the first alone at the gate, the seven behind it in one call
    for result, request in zip(results, requests, strict=True):
        alone = trained.score("fraud@champion", records=[{**r, RECORD_ID: f"again-{r[RECORD_ID]}"} for r in request])
        assert result.records.record_ids == [r[RECORD_ID] for r in request]
        assert result.records.scores == alone.records.scores
        assert trained.scoring.batch(result.batch.id).records.scores == result.records.scores
