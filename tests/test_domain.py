"""Value types that cross layers parse and format themselves: ModelRef and DatasetRef."""

from __future__ import annotations

import pytest

from crispml.domain.refs import DatasetRef, ModelRef
from crispml.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fraud@champion", ModelRef(name="fraud", alias="champion")),
        ("fraud/3", ModelRef(name="fraud", version=3)),
        ("mv-0123456789ab", ModelRef(id="mv-0123456789ab")),
        ("fraud", ModelRef(name="fraud")),
        ("fraud.v2-a_b@challenger", ModelRef(name="fraud.v2-a_b", alias="challenger")),
    ],
)
def test_model_refs_parse_and_format_back_to_their_text(text: str, expected: ModelRef) -> None:
    parsed = ModelRef.parse(text)
    assert parsed == expected
    assert str(parsed) == text
    assert parsed.newest is (text == "fraud")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("fraud/three", "a version is a number"),
        ("fraud/0", "a version is a number"),
        ("fraud/1234567890", "a version is a number"),
        ("fraud@", "alias ''"),
        ("@champion", "model name ''"),
        ("9lives/1", "model name '9lives'"),
        ("fraud@champion@x", "alias 'champion@x'"),
    ],
)
def test_model_refs_that_cannot_name_a_model_are_refused_with_the_reason(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        ModelRef.parse(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ccf/2", DatasetRef(name="ccf", version=2)),
        ("ds-0123456789ab", DatasetRef(id="ds-0123456789ab")),
        ("ccf-cur", DatasetRef(name="ccf-cur")),
    ],
)
def test_dataset_refs_parse_and_format_back_to_their_text(text: str, expected: DatasetRef) -> None:
    assert DatasetRef.parse(text) == expected
    assert str(DatasetRef.parse(text)) == text


def test_dataset_refs_with_a_version_that_is_no_number_are_refused() -> None:
    with pytest.raises(InvalidInput, match=r"as in ccf/2"):
        DatasetRef.parse("ccf/latest")


def test_rest_spelling_of_a_reference_formats_in_one_place() -> None:

    assert str(ModelRef.of("fraud", version=3)) == "fraud/3"
    assert str(ModelRef.of("fraud", alias="champion")) == "fraud@champion"
    assert str(ModelRef.of("fraud")) == "fraud"
    assert ModelRef.parse(str(ModelRef.of("fraud", version=3))) == ModelRef.of("fraud", version=3)
    with pytest.raises(InvalidInput, match="not both"):
        ModelRef.of("fraud", version=3, alias="champion")
