"""The kinds of condition a retraining policy may hold: a small registry, one entry per kind.

A condition is written as text (`new-labels>=500`, `realized-roc_auc<0.85`, `estimated-roc_auc<0.85`,
`drift-alarm`, `drift-psi>0.25`, `every 24h`), parsed by the first kind that recognizes it into its
canonical text, and checked against `Facts`: what the evaluator knows of one model now. A new kind is
one class with `parse` and `check`, one line in `KINDS`, and, if it needs a new figure, one method of
`Facts` (drift and estimates read theirs through `crispml.services.watch`).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from crispml.errors import InvalidInput

KPIS = ("roc_auc", "pr_auc", "precision", "recall", "f1")
ESTIMATED_KPIS = ("roc_auc", "precision", "recall", "f1")
"""The KPIs a CBPE estimate gives (`crispml.steps.cbpe`): no PR AUC."""
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt,
}  # fmt: skip
_THRESHOLD = r"(?:-(?P<kpi>[a-z_0-9]+))?\s*(?P<op>>=|<=|>|<)\s*(?P<value>\S+)"
_DURATION = re.compile(r"^(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Facts(Protocol):
    """What the evaluator knows of one model, each read once and only when a condition asks."""

    @property
    def now(self) -> datetime: ...
    @property
    def last_fired_at(self) -> datetime | None: ...
    @property
    def policy_since(self) -> datetime: ...
    def new_labels(self) -> tuple[int, datetime | None]: ...
    def realized(self) -> dict[str, Any] | None: ...
    def drift(self) -> dict[str, Any]: ...
    def estimated(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Finding:
    """Whether a condition holds now, and the figures that say so (kept with the trigger)."""

    met: bool
    figures: dict[str, Any]


class ConditionKind(Protocol):
    name: str

    def parse(self, text: str) -> str | None:
        """The canonical text of `text` if it is of this kind, else None; InvalidInput if it is but is wrong."""
        ...

    def check(self, condition: str, facts: Facts) -> Finding: ...


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds of `30s`, `15m`, `24h` or `7d`; InvalidInput naming `what` otherwise."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise InvalidInput(f"{what} {text!r} is not a duration like 30s, 15m, 24h or 7d", field=what)
    return float(found["amount"]) * _UNIT_S[found["unit"]]


def _threshold(text: str, name: str) -> re.Match[str] | None:
    return re.fullmatch(re.escape(name) + _THRESHOLD, text.strip())


class NewLabels:
    """`new-labels>=N`: at least N records the model scored got a label since its newest version was trained."""

    name = "new-labels"

    def parse(self, text: str) -> str | None:
        found = _threshold(text, self.name)
        if found is None:
            return None
        if found["kpi"] is not None or found["op"] != ">=" or not found["value"].isdigit() or int(found["value"]) < 1:
            raise InvalidInput(f"condition {text!r}: write new-labels>=N with N a whole number >= 1", field="when")
        return f"new-labels>={int(found['value'])}"

    def check(self, condition: str, facts: Facts) -> Finding:
        needed = int(condition.split(">=")[1])
        count, since = facts.new_labels()
        figures = {"new_labels": count, "needed": needed, "since": since.isoformat() if since else None}
        return Finding(count >= needed, figures)


class RealizedKpi:
    """`realized-KPI<FLOOR`: the champion's KPI on its labelled scores (the verification) is under a floor."""

    name = "realized"
    kpis: tuple[str, ...] = KPIS

    def parse(self, text: str) -> str | None:
        found = _threshold(text, self.name)
        if found is None:
            return None
        kpi, op = found["kpi"], found["op"]
        if kpi not in self.kpis:
            raise InvalidInput(f"condition {text!r}: the KPI must be one of {', '.join(self.kpis)}", field="when")
        if op not in ("<", "<="):
            raise InvalidInput(f"condition {text!r}: a KPI floor is written with < or <=", field="when")
        return f"{self.name}-{kpi}{op}{_share(text, found['value'], 'the floor'):g}"

    def check(self, condition: str, facts: Facts) -> Finding:
        found = _threshold(condition, self.name)
        assert found is not None
        kpi, op, floor = found["kpi"], found["op"], float(found["value"])
        row = facts.realized()
        value = None if row is None else row.get(kpi)
        figures = {"kpi": kpi, "realized": value, "floor": floor, "op": op,
                   "labelled": None if row is None else row.get("labelled"),
                   "model_version": None if row is None else row.get("model")}  # fmt: skip
        return Finding(isinstance(value, int | float) and _COMPARE[op](float(value), floor), figures)


class EstimatedKpi(RealizedKpi):
    """`estimated-KPI<FLOOR`: the CBPE estimate of the champion's KPI over its scores without a label yet
    (those since the policy last fired) is under a floor."""

    name = "estimated"
    kpis = ESTIMATED_KPIS

    def check(self, condition: str, facts: Facts) -> Finding:
        found = _threshold(condition, self.name)
        assert found is not None
        kpi, op, floor = found["kpi"], found["op"], float(found["value"])
        row = facts.estimated()
        value = None if row is None else row.get(kpi)
        interval = None if row is None else (row.get("interval") or {}).get(kpi)
        figures = {"kpi": kpi, "estimated": value, "interval": interval, "level": None if row is None else row["level"],
                   "floor": floor, "op": op, "unlabelled": None if row is None else row.get("unlabelled"),
                   "since": None if row is None else row.get("since"),
                   "model_version": None if row is None else row.get("model")}  # fmt: skip
        return Finding(isinstance(value, int | float) and _COMPARE[op](float(value), floor), figures)


class DriftAlarm:
    """`drift-alarm`: monitoring the champion finds a feature (or its score) at alarm level; `drift-psi>X`:
    a feature's PSI over X. Over the records it scored online since the policy last fired (the input
    log), else over the frames of its dataset it was not trained on."""

    name = "drift"

    def parse(self, text: str) -> str | None:
        stripped = text.strip()
        if not stripped.startswith("drift-"):
            return None
        if stripped == "drift-alarm":
            return stripped
        found = _threshold(stripped, "drift")
        if found is None or found["kpi"] != "psi":
            raise InvalidInput(f"condition {text!r}: write drift-alarm (the alarm level) or drift-psi>0.25",
                               field="when")  # fmt: skip
        if found["op"] not in (">", ">="):
            raise InvalidInput(f"condition {text!r}: a PSI level is written with > or >=", field="when")
        try:
            value = float(found["value"])
        except ValueError:
            value = -1.0
        if not 0 < value < 100:
            raise InvalidInput(f"condition {text!r}: the PSI level must be a number above 0", field="when")
        return f"drift-psi{found['op']}{value:g}"

    def check(self, condition: str, facts: Facts) -> Finding:
        seen = facts.drift()
        overall: dict[str, dict[str, Any]] = seen.get("overall", {})
        if condition == "drift-alarm":
            chosen = {name: row for name, row in overall.items() if row["level"] == "alarm"}
        else:
            found = _threshold(condition, "drift")
            assert found is not None
            op, level = found["op"], float(found["value"])
            chosen = {name: row for name, row in overall.items()
                      if row["level"] != "ignored" and _COMPARE[op](float(row["psi"]), level)}  # fmt: skip
        figures = {key: value for key, value in seen.items() if key != "overall"}
        figures["features"] = {name: row["psi"] for name, row in chosen.items()}
        figures["levels"] = {name: row["level"] for name, row in chosen.items()}
        return Finding(bool(chosen), figures)


def _share(text: str, value: str, what: str) -> float:
    try:
        found = float(value)
    except ValueError:
        found = -1.0
    if not 0 <= found <= 1:
        raise InvalidInput(f"condition {text!r}: {what} must be a number from 0 to 1", field="when")
    return found


class Schedule:
    """`every 24h`: at least this long since the policy last fired (or was set)."""

    name = "schedule"

    def parse(self, text: str) -> str | None:
        words = text.strip().split(None, 1)
        if not words or words[0] != "every":
            return None
        seconds = parse_duration(words[1] if len(words) > 1 else "", "every")
        if seconds < 1:
            raise InvalidInput(f"condition {text!r}: the interval must be at least 1s", field="every")
        found = _DURATION.fullmatch(words[1].strip())
        assert found is not None  # parse_duration accepted it
        return f"every {float(found['amount']):g}{found['unit']}"  # as written: `every 24h` stays 24h

    def check(self, condition: str, facts: Facts) -> Finding:
        interval = timedelta(seconds=parse_duration(condition.split(None, 1)[1]))
        since = facts.last_fired_at or facts.policy_since
        due = since + interval
        return Finding(facts.now >= due, {"interval": condition.split(None, 1)[1], "due_at": due.isoformat()})


KINDS: dict[str, ConditionKind] = {
    kind.name: kind for kind in (NewLabels(), RealizedKpi(), EstimatedKpi(), DriftAlarm(), Schedule())
}
"""Every kind of condition, by name (the label of its metrics and audit events)."""


def parse_condition(text: str) -> tuple[str, str]:
    """The kind and canonical text of a condition; InvalidInput listing the kinds when none knows it."""
    for kind in KINDS.values():
        canonical = kind.parse(text)
        if canonical is not None:
            return kind.name, canonical
    raise InvalidInput(
        f"condition {text!r} is of no known kind; write new-labels>=500, realized-roc_auc<0.85 "
        f"(KPIs: {', '.join(KPIS)}), estimated-roc_auc<0.85 (KPIs: {', '.join(ESTIMATED_KPIS)}), drift-alarm, "
        "drift-psi>0.25 or every 24h",
        field="when",
    )


def kind_of(condition: str) -> str:
    return parse_condition(condition)[0]
