"""An environment's pool filter on frames: each tagged column kept, dropped, pseudonymized or generalized;
record ids of a hidden key column pseudonymized; a filter touching the labels refused."""

from __future__ import annotations

import pandas as pd
import pytest

from crispml.errors import InvalidInput
from crispml.steps.pool_filter import Action, apply_filter, parse_filter
from crispml.steps.privacy import pseudonyms

KEY = b"k"
FRAME = pd.DataFrame(
    {"record_id": ["a", "b", "c", "d"], "email": ["w", "x", "y", "z"], "zip": [1, 1, 2, 2], "Class": [0, 1, 0, 1]}
)
TAGS = {"cust": "personal", "email": "personal", "zip": "quasi-identifier", "Class": "sensitive"}


def test_the_filter_names_tags_and_actions_or_is_refused() -> None:
    assert parse_filter({"quasi": "generalize", "personal": "drop"}) == {
        "quasi-identifier": Action.GENERALIZE, "personal": Action.DROP
    }  # fmt: skip
    with pytest.raises(InvalidInput, match="unknown action 'hide' for tag 'personal'"):
        parse_filter({"personal": "hide"})
    with pytest.raises(InvalidInput, match="unknown tag 'secret'"):
        parse_filter({"secret": "drop"})


def test_a_hidden_key_column_pseudonymizes_the_record_ids() -> None:
    out = apply_filter(FRAME, {k: v for k, v in TAGS.items() if k != "Class"}, "cust",
                       parse_filter({"personal": "drop"}), KEY, 2)  # fmt: skip
    assert list(out.frame.columns) == ["record_id", "zip", "Class"]
    assert out.frame["record_id"].tolist() == pseudonyms(FRAME["record_id"], KEY).tolist()
    assert out.columns == {"cust": "drop", "email": "drop", "zip": "keep", "record_id": "pseudonymize"}
    assert out.tags == {"zip": "quasi-identifier"} and out.anonymization is None


def test_a_filter_touching_the_target_is_refused() -> None:
    with pytest.raises(InvalidInput, match="would drop the target column 'Class'"):
        apply_filter(FRAME, TAGS, "cust", parse_filter({"sensitive": "drop"}), KEY, 2, target="Class")
