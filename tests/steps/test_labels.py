"""Label rows as a sender gives them: one label per record, conflicts refused by row."""

from __future__ import annotations

import pandas as pd
import pytest

from crispml.errors import InvalidInput
from crispml.steps.labels import label_frame


def test_a_record_named_twice_with_one_label_is_one_label() -> None:
    raw = pd.DataFrame({"record_id": ["a", "b", "a"], "label": [1, 0, 1]})
    labels = label_frame(raw, "record_id", "label")
    assert labels.to_dict("records") == [{"record_id": "a", "label": 1}, {"record_id": "b", "label": 0}]


def test_different_labels_for_one_record_are_refused_naming_its_rows() -> None:
    raw = pd.DataFrame({"id": ["a", "b", "c", "b", "c"], "truth": [1, 0, 1, 1, 1]})
    with pytest.raises(InvalidInput, match=r"record 'b' has different labels on rows 2, 4; send one label") as err:
        label_frame(raw, "id", "truth")
    assert err.value.field == "truth"


def test_several_conflicts_are_counted() -> None:
    raw = pd.DataFrame({"record_id": ["a", "a", "b", "b"], "label": [0, 1, 1, 0]})
    with pytest.raises(InvalidInput, match=r"record 'a' .* rows 1, 2 \(1 more records too\)"):
        label_frame(raw, "record_id", "label")


@pytest.mark.parametrize(("ids", "labels", "message"), [
    (["a", None], [0, 1], "empty on 1 rows"),
    (["a", "b"], [0, 2], "must hold 0 or 1; row 2 has 2"),
])  # fmt: skip
def test_gaps_and_other_values_are_refused(ids: list[str | None], labels: list[int], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        label_frame(pd.DataFrame({"record_id": ids, "label": labels}), "record_id", "label")
