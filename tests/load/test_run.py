"""`make load`'s machinery in its quick mode: PostgreSQL, HAProxy over one then two crispml servers,
Locust run as a subprocess (it patches the standard library with gevent: never imported here), a
report and a plot; and a crossed p95 bound failing Locust's exit code.

One prepared store (data, champion, API keys) serves both tests; each step starts its own servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace

import pytest

from load.run import QUICK, Stage, prepared, run_all, run_step
from tests.conftest import POSTGRES_ADMIN_URL

# Timing is not what these tests check: bounds a crowded CI machine meets, but for the crossed one.
LENIENT = {f"CRISPML_LOAD_P95_{kind}_MS": "600000" for kind in ("SCORE_ONE", "SCORE_BATCH", "TRAIN")}


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    out = tmp_path_factory.mktemp("load-results")
    config = replace(QUICK, keys=True, out=out, postgres=POSTGRES_ADMIN_URL, locust_env=LENIENT)
    with prepared(config) as ready:
        yield ready


def test_a_quick_run_reports_every_step_without_a_failed_request(stage: Stage) -> None:
    report = run_all(stage)

    assert [step["workers"] for step in report["steps"]] == [1, 2]
    for step in report["steps"]:
        assert step["total"]["requests"] > 0, step
        assert step["total"]["failures"] == 0, step
        assert step["requests"]["score 1 record"]["requests"] > 0, step
        assert step["locust_exit_code"] == 0 and step["thresholds_crossed"] == [], step
        assert len(step["server_cpu_s"]) == step["workers"] and sum(step["server_cpu_s"]) > 0, step
        workers = step["balancer_workers"]
        assert len(workers) == step["workers"] and all(w["requests"] > 0 for w in workers.values()), step
    assert report["passed"]
    out = stage.config.out
    assert json.loads((out / "report.json").read_text())["passed"]
    markdown = (out / "report.md").read_text()
    assert "| 2 | score 1 record |" in markdown and "Passed: yes." in markdown
    assert (out / "report.png").read_bytes().startswith(b"\x89PNG")


def test_a_crossed_p95_bound_makes_locust_exit_non_zero(stage: Stage) -> None:
    bound = {**LENIENT, "CRISPML_LOAD_P95_SCORE_ONE_MS": "0.001", "CRISPML_LOAD_P95_SCORE_BATCH_MS": "0.001"}
    strict = replace(stage, config=replace(stage.config, out=stage.folder / "strict"),
                     locust_env={**stage.locust_env, **bound})  # fmt: skip

    step = run_step(strict, 1)

    assert step["total"]["failures"] == 0, step
    assert step["thresholds_crossed"], step
    for line in step["thresholds_crossed"]:
        assert line.startswith(("score 1 record: p95", "score 1000 records: p95")), step
        assert line.endswith("over its bound of 0.001 ms"), step
    assert step["locust_exit_code"] == 1
