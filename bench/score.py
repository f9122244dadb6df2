"""Benchmark 3: `cml.score` of frames 7-12 (scores persisted) on SQLite and PostgreSQL, beside a bare
`predict_proba` of the same model on the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import crispml
from bench.common import (
    curated_chain,
    goal,
    median,
    postgres_database,
    ratio,
    scratch,
    synthetic_csv,
    timed,
    timed_phases,
)
from crispml.domain import FRAME
from crispml.steps.pipeline import apply_pipeline

GOAL_RATIO = 2.0
BACKENDS = ("sqlite", "postgresql")
SCORE_FRAMES = range(7, 13)


@contextmanager
def _database(backend: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'crispml.db'}"
        return
    with postgres_database() as url:
        yield url


def run_backend(backend: str, csv: Path, rows: int, repeats: int) -> dict[str, Any]:
    """Train and persist the champion, then time score and bare predict_proba, interleaved."""
    with scratch(f"score-{backend}-") as tmp, _database(backend, tmp) as url:
        home = tmp / "home"
        with crispml.connect(home=home, database_url=url) as cml:
            raw, curated = curated_chain(cml, csv)
            model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud")
            cml.persist(model.ref, alias="champion")
        # The baseline's model and matrix come from a second container, so the scoring one starts cold.
        with crispml.connect(home=home, database_url=url) as probe:
            load_s, estimator = timed(probe.model_cache.estimator, model.artifact_sha256, model.artifact_format)
            frame = probe.lifecycle.dataset_frame(raw.id)
            frame = frame[frame[FRAME].isin(SCORE_FRAMES)].reset_index(drop=True)
            x = apply_pipeline(frame, model.pipeline, list(model.features))
            del frame
        bare_s: list[float] = []
        crispml_s: list[float] = []
        phases: list[dict[str, float]] = []
        with crispml.connect(home=home, database_url=url) as cml:
            for _ in range(repeats):
                seconds, _ = timed(estimator.predict_proba, x)
                bare_s.append(seconds)
                seconds, result, split = timed_phases(cml.score, "fraud@champion", dataset=raw.id, frames="7-12")
                crispml_s.append(seconds)
                phases.append(split)
                assert result.batch.rows == len(x), (result.batch.rows, len(x))
            with cml.store.transaction() as repo:
                persisted = repo.ledger.count()
    assert persisted == repeats * len(x), (persisted, repeats, len(x))
    ours, floor = median(crispml_s), median(bare_s)
    return {
        "scored_rows": len(x),
        "persisted_rows": persisted,
        "model_load_s": load_s,
        "timings_s": {"crispml": crispml_s, "bare": bare_s},
        "note": "run 1 of crispml loads the model (skops) into the container's cache; runs 2.. reuse it",
        "phases_s": phases,
        "medians_s": {"crispml": ours, "bare": floor},
        "rows_per_s": {"crispml": round(len(x) / ours), "bare": round(len(x) / floor)},
        "ratios": {"crispml_over_bare": ratio(ours, floor), "cold_run_over_bare": ratio(crispml_s[0], floor)},
    }


def run(rows: int, repeats: int = 5, backends: tuple[str, ...] = BACKENDS) -> dict[str, Any]:
    csv = synthetic_csv(rows)
    results = {backend: run_backend(backend, csv, rows, repeats) for backend in backends}
    return {
        "name": "score",
        "rows": rows,
        "call": "cml.score('fraud@champion', dataset=raw_id, frames='7-12')  # every score persisted",
        "baseline": "estimator.predict_proba(x)[:, 1] on the same rows, same loaded model",
        "backends": results,
        "goals": [
            goal(f"{b} crispml/bare wall time", r["ratios"]["crispml_over_bare"], GOAL_RATIO)
            for b, r in results.items()
        ],
        "headline": [
            {
                "benchmark": f"score {b}",
                "crispml_s": r["medians_s"]["crispml"],
                "bare_s": r["medians_s"]["bare"],
                "rows_per_s": r["rows_per_s"]["crispml"],
                "ratio": r["ratios"]["crispml_over_bare"],
            }
            for b, r in results.items()
        ],
    }
