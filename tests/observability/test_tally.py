"""Histogram tallies (`crispml.observability.tally`): folded in bulk, a series reads exactly as if each
value had been observed one by one with prometheus-client, and nothing appended while folding is lost."""

from __future__ import annotations

import math
import random
import threading

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

from crispml.observability import metrics
from crispml.observability.tally import FOLD_PAST, Folder, Tally, fold_all, tally
from tests.conftest import wait_for

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram("seconds", "test", ("route",), buckets=BUCKETS, registry=registry)


def exposition_lines(registry: CollectorRegistry) -> list[str]:
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def test_a_folded_tally_reads_as_values_observed_one_by_one() -> None:
    # On the bounds, between them, below the first, past the last, zero, negative, NaN.
    values = [*BUCKETS, 0.0, -1.0, 0.0007, 0.003, 99.0, 1e9, math.nan, 0.0005, 10.0]
    values += [random.Random(7).uniform(0, 12) for _ in range(500)]
    folded_registry, observed_registry = CollectorRegistry(), CollectorRegistry()
    folded, observed = histogram(folded_registry), histogram(observed_registry)
    found = tally(folded.labels("/score"))
    for value in values:
        found.append(value)
        observed.labels("/score").observe(value)

    assert exposition_lines(folded_registry) != exposition_lines(observed_registry)  # nothing counted yet
    found.fold()
    assert exposition_lines(folded_registry) == exposition_lines(observed_registry)
    assert len(found) == 0

    found.append(0.002)  # a second fold adds to the first
    observed.labels("/score").observe(0.002)
    fold_all()
    assert exposition_lines(folded_registry) == exposition_lines(observed_registry)


def test_appends_from_many_threads_during_folds_are_all_counted() -> None:
    registry = CollectorRegistry()
    found = Tally(histogram(registry).labels("/score"))
    each, threads = 20_000, 4

    def observe() -> None:
        for index in range(each):
            found.append(0.001 * (index % 50))

    workers = [threading.Thread(target=observe) for _ in range(threads)]
    for worker in workers:
        worker.start()
    while any(worker.is_alive() for worker in workers):
        found.fold()
    found.fold()

    assert registry.get_sample_value("seconds_count", {"route": "/score"}) == each * threads
    expected_sum = threads * sum(0.001 * (index % 50) for index in range(each))
    assert math.isclose(registry.get_sample_value("seconds_sum", {"route": "/score"}) or 0, expected_sum)


def test_the_folder_thread_folds_until_closed_and_once_more_as_it_closes() -> None:
    registry = CollectorRegistry()
    found = tally(histogram(registry).labels("/score"))
    folder = Folder(every_s=0.05).start()
    try:
        found.append(0.01)
        wait_for(lambda: registry.get_sample_value("seconds_count", {"route": "/score"}) == 1, timeout=10)
        found.append(0.02)
    finally:
        folder.close()
    assert registry.get_sample_value("seconds_count", {"route": "/score"}) == 2


def test_a_counter_tally_adds_its_sum() -> None:
    registry = CollectorRegistry()
    counter = Counter("scores", "test", ("model",), registry=registry)
    found = tally(counter.labels("fraud"))
    for rows in (1, 1000, 3):
        found.append(rows)
    assert registry.get_sample_value("scores_total", {"model": "fraud"}) == 0
    found.fold()
    assert registry.get_sample_value("scores_total", {"model": "fraud"}) == 1004


def test_scores_written_without_scrapes_or_folder_stay_bounded() -> None:
    # With metrics off nothing scrapes and no folder thread runs: the tallies fold themselves past a bound.
    model, batches = "tally-bound-test", FOLD_PAST * 2 + 10
    labels = {"model": model, "version": "1"}
    for _ in range(batches):
        metrics.scores_written(model, 1, 2)
    assert len(metrics._scores[model, 1]) <= FOLD_PAST
    assert (REGISTRY.get_sample_value("crispml_score_batches_total", labels) or 0) > FOLD_PAST
    fold_all()
    assert REGISTRY.get_sample_value("crispml_score_batches_total", labels) == batches
    assert REGISTRY.get_sample_value("crispml_scores_total", labels) == batches * 2
