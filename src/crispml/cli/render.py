"""How answers are printed: JSON, CSV, or tables that fit the terminal without cutting a number.

A table wider than the terminal (80 columns when piped) is split into several tables that each repeat
the key columns (model, frame, ...) and carry as many value columns as fit; no cell is ever truncated.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table


class OutputFormat(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def stdout() -> Console:
    """A console on stdout, sized now (COLUMNS, the terminal, or 80 when piped)."""
    return Console(soft_wrap=False, highlight=False)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def print_json(value: Any) -> None:
    from crispml.jsonable import jsonable  # numpy and pandas: only once there is something to print

    sys.stdout.write(json.dumps(jsonable(value), indent=2) + "\n")


def fmt(value: Any) -> str:
    """A cell: '-' for nothing, floats to four decimals, everything else as it is."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


# Short headers keep numeric columns narrow; the JSON and CSV keep the full names.
HEADERS = {
    "unlabelled": "unlab.",
    "positives": "pos.",
    "roc_auc": "ROC AUC",
    "report_roc_auc": "report ROC",
    "pr_auc": "PR AUC",
    "precision": "prec.",
    "recall": "recall",
    "median_duration_s": "dur. s",
    "median_cpu_s": "cpu s",
    "median_rows_in": "rows in",
    "max_peak_rss_mb": "RSS MB",
    "class_weight": "weight",
}


def _width(column: str, cells: list[str]) -> int:
    return max([len(HEADERS.get(column, column)), *(len(c) for c in cells)])


def _groups(widths: dict[str, int], keys: Sequence[str], values: Sequence[str], room: int) -> list[list[str]]:
    """Value columns packed into tables that each fit `room` characters beside the key columns."""
    per_column = 3  # one space of padding each side and a separator
    base = 1 + sum(widths[k] + per_column for k in keys)
    groups: list[list[str]] = [[]]
    used = base
    for column in values:
        need = widths[column] + per_column
        if groups[-1] and used + need > room:
            groups.append([])
            used = base
        groups[-1].append(column)
        used += need
    return groups


def table(
    rows: list[dict[str, Any]], columns: Sequence[str], *, keys: Sequence[str] = (), title: str | None = None
) -> None:
    """Print `rows` as one or more tables that fit the console; `keys` are repeated in each part."""
    console = stdout()
    if not rows:
        console.print(f"{title}: none" if title else "none")
        return
    cells = {c: [fmt(r.get(c)) for r in rows] for c in columns}
    widths = {c: _width(c, cells[c]) for c in columns}
    values = [c for c in columns if c not in keys]
    groups = _groups(widths, keys, values, console.width)
    for number, group in enumerate(groups, start=1):
        part = f" ({number}/{len(groups)})" if len(groups) > 1 else ""
        shown = [*keys, *group]
        out = Table(title=f"{title}{part}" if title else None, box=box.SIMPLE_HEAD, pad_edge=False)
        for column in shown:
            text_column = column in keys and not any(c.replace(".", "").isdigit() for c in cells[column])
            out.add_column(
                escape(HEADERS.get(column, column)),
                justify="left" if text_column else "right",
                no_wrap=True,
                min_width=widths[column],
            )
        for index in range(len(rows)):
            out.add_row(*(escape(cells[c][index]) for c in shown))
        console.print(out)


def write_csv(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Every column in full, one row per line, for spreadsheets and scripts."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _csv_cell(row.get(c)) for c in columns])


def _csv_cell(value: Any) -> Any:
    return ",".join(map(str, value)) if isinstance(value, list | tuple) else value


def emit(
    value: Any,
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    output: OutputFormat,
    *,
    keys: Sequence[str] = (),
    title: str | None = None,
) -> bool:
    """Print in the chosen format; True when done (JSON or CSV), False when the caller adds to the table."""
    if output is OutputFormat.JSON:
        print_json(value)
        return True
    if output is OutputFormat.CSV:
        write_csv(rows, columns)
        return True
    table(rows, columns, keys=keys, title=title)
    return False


def line(text: str) -> None:
    """A line of prose; rich wraps it at spaces, so no number is cut."""
    Console(highlight=False).print(text)
