"""Labels as a sender gives them: checked, one per record."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crispml.errors import InvalidInput


def label_frame(raw: pd.DataFrame, id_column: str, label_column: str) -> pd.DataFrame:
    """record_id and label (0 or 1) columns from raw label rows; empty ids and other labels are refused."""
    raw.columns = [str(c) for c in raw.columns]
    for column in (id_column, label_column):
        if column not in raw.columns:
            raise InvalidInput(
                f"labels lack column {column!r}; they have {', '.join(map(str, raw.columns[:20]))}",
                field=column,
            )
    ids = raw[id_column]
    empty = ids.isna() | (ids.astype(str).str.strip() == "")
    if empty.any():
        first = int(np.argmax(empty.to_numpy())) + 1
        raise InvalidInput(
            f"column {id_column!r} is empty on {int(empty.sum())} rows (first: row {first})", field=id_column
        )
    values = pd.to_numeric(raw[label_column], errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        raise InvalidInput(
            f"column {label_column!r} must hold 0 or 1; row {int(np.argmax(bad.to_numpy())) + 1} has "
            f"{_shown(raw[label_column][bad].iloc[0])}",
            field=label_column,
        )
    labels = pd.DataFrame({"record_id": ids.astype(str).to_numpy(), "label": values.astype("int64").to_numpy()})
    refuse_conflicts(labels, label_column)
    # A record named twice with the same label is one label.
    return labels.drop_duplicates("record_id").reset_index(drop=True)


def refuse_conflicts(labels: pd.DataFrame, label_column: str = "label") -> None:
    """Refuse labels that name one record twice with different labels, naming the record and its rows
    (1-based, as a file's data rows count): which one is true is for the sender to say."""
    repeated = labels[labels.duplicated("record_id", keep=False)]
    if repeated.empty:
        return
    kinds = repeated.groupby("record_id", sort=False)["label"].nunique()
    conflicting = kinds[kinds > 1]
    if conflicting.empty:
        return
    first = conflicting.index[0]
    rows = [int(i) + 1 for i in repeated.index[repeated["record_id"] == first]]
    more = f" ({len(conflicting) - 1} more records too)" if len(conflicting) > 1 else ""
    raise InvalidInput(
        f"record {first!r} has different labels on rows {', '.join(map(str, rows[:10]))}{more}; "
        "send one label per record",
        field=label_column,
    )


def _shown(value: object) -> str:
    """A value as a user wrote it: text quoted, numbers plain (not numpy's repr)."""
    return repr(value) if isinstance(value, str) else str(value)
