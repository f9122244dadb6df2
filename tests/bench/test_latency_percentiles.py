"""The benchmarks' pooled latency percentiles (`bench.load`): taken from wrk's histograms as wrk takes
them, and pooling histograms gives the percentile of all their answers together."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from bench.load import _histogram, percentile_ms


def test_a_percentile_is_the_smallest_latency_at_or_below_which_that_share_falls() -> None:
    latencies = np.random.default_rng(7).lognormal(8.3, 0.4, 20_000).astype(int)  # microseconds
    histogram = Counter(latencies.tolist())
    for percent in (50, 90, 99, 99.9):
        expected = np.percentile(latencies, percent, method="inverted_cdf") / 1000
        assert percentile_ms(histogram, percent) == pytest.approx(expected, abs=1e-3)


def test_pooled_histograms_give_the_percentile_of_every_answer_together() -> None:
    rng = np.random.default_rng(11)
    fast, slow = rng.integers(3_000, 5_000, 9_000), rng.integers(6_000, 30_000, 1_000)
    pooled = Counter(fast.tolist()) + Counter(slow.tolist())
    every = np.concatenate([fast, slow])
    assert percentile_ms(pooled, 99) == np.percentile(every, 99, method="inverted_cdf") / 1000
    # A median of the two runs' own p99s says something else entirely.
    assert percentile_ms(pooled, 99) != pytest.approx(
        np.median([np.percentile(fast, 99), np.percentile(slow, 99)]) / 1000, rel=0.05
    )


def test_wrk_dump_lines_are_read_as_microseconds_and_counts() -> None:
    assert _histogram("3900 2\n4100 1\n3900 1\n") == Counter({3900: 3, 4100: 1})
    with pytest.raises(ValueError, match="no latencies"):
        percentile_ms(Counter(), 99)
