"""Data protection on frames: k-anonymity and l-diversity hold for what is kept, pseudonyms are stable
and keyed, a subject's rows are found by text or number."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crispml.errors import InvalidInput
from crispml.steps import privacy

DERANDOMIZED = settings(derandomize=True, max_examples=60, deadline=None, database=None)

rows = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=120),  # age
        st.integers(min_value=1000, max_value=1030),  # postcode
        st.sampled_from(["a", "b", "c", "d"]),  # sensitive
        st.sampled_from(["x", "y"]),  # a text quasi-identifier
    ),
    min_size=1,
    max_size=80,
)


def frame_of(values: list[tuple[int, int, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(values, columns=["age", "zip", "diag", "sex"])


def group_sizes(frame: pd.DataFrame, quasi: list[str]) -> pd.Series:
    return frame.groupby(quasi, dropna=False).size()


@DERANDOMIZED
@given(values=rows, k=st.integers(min_value=1, max_value=10))
def test_what_is_kept_is_k_anonymous_and_the_report_adds_up(values: list[tuple[int, int, str, str]], k: int) -> None:
    frame = frame_of(values)
    quasi = ["age", "zip", "sex"]
    result = privacy.anonymize(frame, quasi, k)
    assert len(result.frame) + result.rows_suppressed == len(frame)
    assert 0.0 <= result.information_loss <= 1.0
    if result.frame.empty:
        assert not result.reached and result.k_achieved == 0
        return
    assert group_sizes(result.frame, quasi).min() == result.k_achieved
    assert result.reached == (result.k_achieved >= k)
    if len(frame) >= k:
        assert result.reached  # the coarsest level puts every row in one group
    # Columns other than the quasi-identifiers are untouched, row for row.
    kept = frame.loc[frame.index.isin(_kept_positions(frame, result.frame))]
    assert sorted(result.frame["diag"]) == sorted(kept["diag"])


def _kept_positions(frame: pd.DataFrame, kept: pd.DataFrame) -> list[int]:
    # The step keeps rows in order: walk both frames matching the untouched column.
    positions, j = [], 0
    for i, value in enumerate(frame["diag"]):
        if j < len(kept) and kept["diag"].iloc[j] == value:
            positions.append(i)
            j += 1
    return positions


@DERANDOMIZED
@given(values=rows, k=st.integers(min_value=1, max_value=6), l_div=st.integers(min_value=1, max_value=4))
def test_l_diversity_holds_in_every_kept_group(values: list[tuple[int, int, str, str]], k: int, l_div: int) -> None:
    frame = frame_of(values)
    result = privacy.anonymize(frame, ["age", "zip"], k, sensitive="diag", l_diversity=l_div)
    if not result.reached:
        return
    groups = result.frame.groupby(["age", "zip"], dropna=False)
    assert groups.size().min() >= k
    assert groups["diag"].nunique().min() >= l_div
    assert result.l_achieved == groups["diag"].nunique().min()


@DERANDOMIZED
@given(values=rows, k=st.integers(min_value=1, max_value=8))
def test_anonymization_is_deterministic(values: list[tuple[int, int, str, str]], k: int) -> None:
    frame = frame_of(values)
    first = privacy.anonymize(frame, ["age", "zip"], k)
    again = privacy.anonymize(frame.copy(), ["age", "zip"], k)
    pd.testing.assert_frame_equal(first.frame, again.frame)
    assert first.report() == again.report()


def test_data_already_k_anonymous_is_left_as_it_is() -> None:
    frame = pd.DataFrame({"age": [30, 30, 40, 40], "v": [1, 2, 3, 4]})
    result = privacy.anonymize(frame, ["age"], 2)
    assert result.levels == {"age": 0} and result.information_loss == 0.0
    pd.testing.assert_frame_equal(result.frame, frame)


def test_too_few_rows_for_k_is_not_reached() -> None:
    result = privacy.anonymize(pd.DataFrame({"age": [30, 31, 32]}), ["age"], 4)
    assert not result.reached and result.frame.empty and result.rows_suppressed == 3


def test_l_diversity_beyond_the_distinct_values_is_not_reached() -> None:
    frame = pd.DataFrame({"age": range(10), "diag": ["a", "b"] * 5})
    result = privacy.anonymize(frame, ["age"], 2, sensitive="diag", l_diversity=3)
    assert not result.reached


@pytest.mark.parametrize(
    ("quasi", "k", "sensitive", "l_div", "field"),
    [
        ([], 2, None, None, "quasi_identifiers"),
        (["nope"], 2, None, None, "quasi_identifiers"),
        (["age"], 0, None, None, "k"),
        (["age"], 2, None, 2, "l_diversity"),
        (["age"], 2, "age", 2, "sensitive"),
    ],
)
def test_bad_anonymization_requests_name_the_problem(
    quasi: list[str], k: int, sensitive: str | None, l_div: int | None, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        privacy.anonymize(pd.DataFrame({"age": [1, 2]}), quasi, k, sensitive=sensitive, l_diversity=l_div)
    assert caught.value.field == field


@DERANDOMIZED
@given(values=st.lists(st.one_of(st.text(max_size=12), st.integers(), st.none()), min_size=1, max_size=30))
def test_pseudonyms_are_stable_keyed_and_one_to_one(values: list[object]) -> None:
    series = pd.Series(values, dtype="object")
    first = privacy.pseudonyms(series, b"key-one")
    # Stable: the same value in another frame, in another order, gets the same pseudonym.
    again = privacy.pseudonyms(series[::-1], b"key-one")[::-1]
    assert first.equals(again)
    other = privacy.pseudonyms(series, b"key-two")
    for value, a, b in zip(values, first, other, strict=True):
        if value is None:
            assert pd.isna(a) and pd.isna(b)
        else:
            assert len(a) == 64 and a != b  # hex HMAC-SHA256, and the key matters
            assert str(value) not in a or len(str(value)) < 3
    texts = {privacy._text(v) for v in values if v is not None}
    assert first.dropna().nunique() == len(texts)


def test_a_pseudonym_is_hmac_sha256_of_the_values_text() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"42", hashlib.sha256).hexdigest()
    assert privacy.pseudonyms(pd.Series([42, 42.0, "42"]), b"k").tolist() == [expected] * 3


def test_pseudonymizing_the_key_column_replaces_the_record_ids() -> None:
    frame = pd.DataFrame({"record_id": ["c1", "c2"], "frame": [1, 1], "email": ["a@x", "b@x"]})
    out = privacy.pseudonymize(frame, ["cust", "email"], b"k", key_column="cust")
    assert out["record_id"].tolist() == privacy.pseudonyms(pd.Series(["c1", "c2"]), b"k").tolist()
    assert out["email"].tolist() == privacy.pseudonyms(pd.Series(["a@x", "b@x"]), b"k").tolist()
    assert frame["record_id"].tolist() == ["c1", "c2"]  # the input is left alone
    with pytest.raises(InvalidInput, match="'nope'"):
        privacy.pseudonymize(frame, ["nope"], b"k", key_column=None)
    with pytest.raises(InvalidInput, match="empty"):
        privacy.pseudonyms(frame["email"], b"")


def test_subject_rows_match_text_and_numbers() -> None:
    frame = pd.DataFrame({"id": [7, 8, 7], "name": ["ann", "bob", None], "score": [1.0, 7.0, 2.5]})
    assert privacy.subject_rows(frame, "id", "7").tolist() == [True, False, True]
    assert privacy.subject_rows(frame, "name", "bob").tolist() == [False, True, False]
    assert privacy.subject_rows(frame, "score", "7").tolist() == [False, True, False]
    assert privacy.subject_rows(frame, "id", "seven").tolist() == [False, False, False]


def test_tags_are_checked_and_carried() -> None:
    columns = privacy.taggable(["record_id", "frame", "age", "email"], key="cust")
    assert columns == ["age", "email", "cust"]
    assert privacy.check_tags({"age": "quasi-identifier", "cust": "personal"}, columns) == {
        "age": "quasi-identifier",
        "cust": "personal",
    }
    with pytest.raises(InvalidInput, match="no such column"):
        privacy.check_tags({"frame": "personal"}, columns)
    with pytest.raises(InvalidInput, match="unknown tag 'secret'"):
        privacy.check_tags({"age": "secret"}, columns)
    assert privacy.carried_tags({"age": "sensitive", "gone": "personal"}, ["age"]) == {"age": "sensitive"}
