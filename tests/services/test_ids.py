"""Record keys the services mint (`crispml.services.base.new_id`): unique in a burst, ordered by time, and
short enough for every id column (32 characters)."""

from __future__ import annotations

import re
import time

from crispml.services.base import new_id


def test_ids_are_unique_in_a_burst_and_ordered_by_time() -> None:
    burst = [new_id("sb") for _ in range(200_000)]
    assert len(set(burst)) == len(burst)
    assert all(re.fullmatch(r"sb-[0-9a-f]{24}", i) for i in burst[:1000])
    time.sleep(0.002)
    later = new_id("sb")
    assert later > max(burst)  # a later millisecond sorts after every id of an earlier one
    assert len(new_id("whd")) <= 32
