"""An environment's GDPR filter over a dataset read from the shared data pool: per column tag, keep,
drop, pseudonymize or generalize (see `crispml.services.pool`).

Pure: a frame, its tags and the filter in; the filtered frame, its tags and what was done per column
out. The pseudonym key is handed in by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pandas as pd

from crispml.domain import RECORD_ID
from crispml.errors import InvalidInput
from crispml.steps import privacy
from crispml.steps.privacy import Tag

FILTER_SETTING = "CRISPML_POOL_FILTER"
TAG_NAMES = {"quasi": Tag.QUASI_IDENTIFIER.value}
"""Short spellings a filter may use for a tag."""


class Action(StrEnum):
    KEEP = "keep"  # as the pool holds it
    DROP = "drop"  # the column is removed
    PSEUDONYMIZE = "pseudonymize"  # keyed HMAC-SHA256 pseudonyms: stable across environments sharing the key
    GENERALIZE = "generalize"  # k-anonymous generalization of the columns so tagged, rows suppressed as needed


def parse_filter(rules: Mapping[str, str]) -> dict[str, Action]:
    """A filter (tag to action) checked: every tag one of the privacy tags (`quasi` for quasi-identifier),
    every action one of keep, drop, pseudonymize, generalize; InvalidInput names the first bad entry."""
    parsed: dict[str, Action] = {}
    for tag, action in rules.items():
        name = TAG_NAMES.get(tag, tag)
        if name not in {t.value for t in Tag}:
            choices = ", ".join([t.value for t in Tag] + list(TAG_NAMES))
            raise InvalidInput(f"{FILTER_SETTING}: unknown tag {tag!r}; choose {choices}", field=FILTER_SETTING)
        try:
            parsed[name] = Action(action)
        except ValueError:
            choices = ", ".join(a.value for a in Action)
            raise InvalidInput(f"{FILTER_SETTING}: unknown action {action!r} for tag {tag!r}; choose {choices}",
                               field=FILTER_SETTING) from None  # fmt: skip
    return parsed


def needs_key(rules: Mapping[str, Action], tags: Mapping[str, str], key_column: str | None) -> bool:
    """Whether applying `rules` to a dataset with `tags` computes pseudonyms (and so needs the key)."""
    for column, tag in tags.items():
        action = rules.get(tag, Action.KEEP)
        if action == Action.PSEUDONYMIZE or (action != Action.KEEP and column == key_column):
            return True
    return False


@dataclass(frozen=True)
class Filtered:
    frame: pd.DataFrame
    tags: dict[str, str]
    """The tags of the columns left (a pseudonymized or generalized column keeps its tag)."""
    columns: dict[str, str]
    """What was done to each tagged column (`record_id` when the record ids were pseudonymized)."""
    anonymization: dict[str, Any] | None
    """The generalization's report (k reached, rows suppressed, levels), when a column was generalized."""


def apply_filter(
    frame: pd.DataFrame,
    tags: Mapping[str, str],
    key_column: str | None,
    rules: Mapping[str, Action],
    key: bytes | None,
    k: int,
    target: str | None = None,
) -> Filtered:
    """`frame` as the environment may see it: each tagged column handled as `rules` says for its tag
    (untagged columns and tags without a rule are kept). A filter that would change the `target` column
    (the labels) is refused: the dataset could no longer be trained on or verified.

    The column the record ids were read from (`key_column`) is not in the frame: unless kept, its record
    ids are replaced by their pseudonyms (a record id must stay, and stay unique). Generalizing refuses
    (InvalidInput, nothing is returned) when the rows cannot reach `k`.
    """
    by_action: dict[Action, list[str]] = {action: [] for action in Action}
    for column, tag in tags.items():
        by_action[rules.get(tag, Action.KEEP)].append(column)
    done = {column: rules.get(tag, Action.KEEP).value for column, tag in tags.items()}
    if target is not None and done.get(target, Action.KEEP) != Action.KEEP:
        raise InvalidInput(f"the pool filter would {done[target]} the target column {target!r} (tagged "
                           f"{tags[target]}): keep that tag, or untag the target in the pool",
                           field=FILTER_SETTING)  # fmt: skip
    if key is None and needs_key(rules, tags, key_column):
        raise InvalidInput("the pool filter pseudonymizes, but no pseudonym key is configured: set "
                           "CRISPML_PSEUDONYM_KEY_FILE (every environment reading the pool alike gives the same "
                           "pseudonyms)", field="CRISPML_PSEUDONYM_KEY_FILE")  # fmt: skip
    out = frame
    hidden_key = key_column is not None and key_column in tags and done[key_column] != Action.KEEP
    if hidden_key:
        assert key is not None
        out = out.assign(**{RECORD_ID: privacy.pseudonyms(out[RECORD_ID], key)})
        done[RECORD_ID] = Action.PSEUDONYMIZE.value
    present = [c for c in by_action[Action.PSEUDONYMIZE] if c in out.columns and c != key_column]
    if present:
        assert key is not None
        out = privacy.pseudonymize(out, present, key, None)
    out = out.drop(columns=[c for c in by_action[Action.DROP] if c in out.columns])
    quasi = [c for c in by_action[Action.GENERALIZE] if c in out.columns]
    report = None
    if quasi:
        result = privacy.anonymize(out, quasi, k)
        report = result.report()
        if not result.reached:
            raise InvalidInput(
                f"the pool filter's generalization of {', '.join(quasi)} does not reach k={k} (k achieved "
                f"{result.k_achieved}, {result.rows_suppressed} of {result.rows_in} rows would be suppressed); "
                "nothing was written",
                field="CRISPML_POOL_K",
            )
        out = result.frame
    kept = {c: t for c, t in tags.items() if c in out.columns or (c == key_column and not hidden_key)}
    return Filtered(out.reset_index(drop=True), kept, done, report)
