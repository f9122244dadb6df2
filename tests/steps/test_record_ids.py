"""The record-id scheme (docs/record-ids.md) pinned by golden values, and its promise: the same values
give the same id whatever form they arrive in."""

from __future__ import annotations

import struct

import numpy as np
import pandas as pd
import pytest
import xxhash

from crispml.errors import InvalidInput
from crispml.steps import record_ids
from crispml.steps.record_ids import LEGACY, SCHEME, canonical_bytes, frame_ids, key_ids, matrix_ids, scheme_of

ROWS = np.array([[0.0, 1.5, -0.0], [2.0, 3.0, 4.0], [-1e300, 1.83, 7.0]])


def test_canonical_bytes_follow_the_documented_words() -> None:
    expected = b"".join(
        [
            struct.pack("<d", 1.0),  # int 1 -> float64
            struct.pack("<d", 0.0),  # -0.0 -> 0.0
            struct.pack("<Q", 0x7FF8000000000000),  # missing
            struct.pack("<d", 1.83),  # text that reads as a number
            struct.pack("<Q", 0x7FF1000000000000 + 3) + b"abc" + b"\0" * 5,  # other text, padded
            struct.pack("<d", 1.0),  # True
        ]
    )
    assert canonical_bytes([1, -0.0, None, "1.83", "abc", True]) == expected
    assert canonical_bytes([]) == b""


def test_golden_ids_are_xxh64_of_the_canonical_bytes() -> None:
    # Pinned: changing these values breaks every stored ledger's join to its labels.
    assert matrix_ids(ROWS) == ["51aef82a03e39689", "0d9009807c1f6a9a", "823e1fee2e058adc"]
    for row, record_id in zip(ROWS, matrix_ids(ROWS), strict=True):
        independent = xxhash.xxh64(b"".join(struct.pack("<d", v + 0.0) for v in row.tolist())).hexdigest()
        assert record_id == independent


def test_text_rows_have_pinned_ids() -> None:
    frame = pd.DataFrame({"merchant": ["acme", None, "1.83"], "amount": [1.5, 2.0, 3.0]})
    assert frame_ids(frame) == ["f11bbaa76de5a5a5", "43af6db61ea86a71", "f71fbaa3db0c69cf"]
    acme = struct.pack("<Q", 0x7FF1000000000000 + 4) + b"acme\0\0\0\0" + struct.pack("<d", 1.5)
    assert frame_ids(frame)[0] == xxhash.xxh64(acme).hexdigest()


@pytest.mark.parametrize(
    "form",
    [
        lambda m: pd.DataFrame(m, columns=list("abc")),  # a CSV read by pandas
        lambda m: pd.DataFrame(m, columns=list("abc")).astype(object),  # OIP flat tensor values
        lambda m: pd.DataFrame(m, columns=list("abc")).astype(str),  # numbers sent as text
        lambda m: pd.DataFrame.from_records([dict(zip("abc", r, strict=True)) for r in m.tolist()]),  # JSON
    ],
)
def test_every_form_of_the_same_values_gets_the_same_ids(form) -> None:  # type: ignore[no-untyped-def]
    assert frame_ids(form(ROWS)) == matrix_ids(ROWS)


def test_integers_and_floats_of_equal_value_share_an_id() -> None:
    assert frame_ids(pd.DataFrame({"a": [5], "b": [2]})) == frame_ids(pd.DataFrame({"a": [5.0], "b": ["2"]}))


def test_missing_values_share_one_id_whatever_their_spelling() -> None:
    spellings = [np.nan, None, ""]
    ids = {frame_ids(pd.DataFrame({"a": [1.0], "b": pd.Series([v], dtype=object)}))[0] for v in spellings}
    assert len(ids) == 1


def test_repeated_records_get_numbered_suffixes() -> None:
    ids = matrix_ids(np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 4.0], [1.0, 2.0]]))
    assert ids[1] == ids[0] + "~2" and ids[3] == ids[0] + "~3" and "~" not in ids[2]


def test_legacy_scheme_still_gives_pandas_hash_ids() -> None:
    frame = pd.DataFrame(ROWS, columns=list("abc"))
    expected = [f"{h:016x}" for h in pd.util.hash_pandas_object(frame, index=False).tolist()]
    assert frame_ids(frame, LEGACY) == expected
    assert matrix_ids(ROWS, LEGACY) == expected
    assert matrix_ids(ROWS) != expected


def test_scheme_recorded_by_a_dataset() -> None:
    assert scheme_of({"record_id_scheme": SCHEME}) == SCHEME
    assert scheme_of({}) == LEGACY
    with pytest.raises(InvalidInput, match="unknown"):
        scheme_of({"record_id_scheme": "md5"})


def test_key_ids_refuse_gaps_and_repeats() -> None:
    assert key_ids(pd.DataFrame({"k": [7, 8]}), "k") == ["7", "8"]
    with pytest.raises(InvalidInput, match="empty on 1 rows"):
        key_ids(pd.DataFrame({"k": ["a", " "]}), "k")
    with pytest.raises(InvalidInput, match="'a' appears more than once"):
        key_ids(pd.DataFrame({"k": ["a", "a"]}), "k")


def test_many_rows_hash_like_one_row_at_a_time() -> None:
    rng = np.random.default_rng(7)
    matrix = rng.normal(size=(500, 30))
    assert matrix_ids(matrix) == [matrix_ids(row[None, :])[0] for row in matrix]
    assert record_ids.frame_ids(pd.DataFrame(matrix)) == matrix_ids(matrix)


def test_frames_longer_than_one_slice_hash_every_row_like_alone() -> None:
    # frame_ids lays rows side by side a slice at a time; rows past the first slice, text among numbers
    # and repeats that straddle slices must come out as they would one record at a time.
    rows = 2 * record_ids._ROWS_PER_SLICE + 5
    rng = np.random.default_rng(11)
    frame = pd.DataFrame({"amount": rng.normal(size=rows), "merchant": rng.normal(size=rows).astype(object)})
    frame.loc[::997, "merchant"] = "acme"
    frame.iloc[-1] = frame.iloc[3]  # the last row repeats one from the first slice
    ids = frame_ids(frame)
    alone = [xxhash.xxh64(canonical_bytes(values)).hexdigest() for values in frame.itertuples(index=False)]
    assert ids[:-1] == alone[:-1]
    assert ids[-1] == alone[3] + "~2"
