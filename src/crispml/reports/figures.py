"""The pictures of a model report and of a verification, drawn from their answers (plain JSON dicts).

Each `report_plot` and `verification_plot` takes the answer the JSON route gives (`ReportAnswer`,
`VerificationAnswer` as JSON) and answers the bytes of one picture: data in, bytes out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from crispml.contract.requests import ImageFormat
from crispml.domain.refs import format_frames
from crispml.errors import InvalidInput
from crispml.reports.drawing import (
    BLUE,
    GREY,
    MARKERS,
    ORANGE,
    SEQUENTIAL,
    SERIES,
    VERMILLION,
    Draw,
    decimals,
    empty,
    render,
    title,
)

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

J = dict[str, Any]

TOP_FEATURES = 20
"""Importances drawn: the highest ones."""
_KPIS = {"roc_auc": "ROC AUC", "pr_auc": "PR AUC", "precision": "precision", "recall": "recall", "f1": "F1"}


def report_subtitle(report: J) -> str:
    """Which model, frames and threshold a report's picture shows."""
    frames = report.get("frames") or []
    where = f"on frames {format_frames(frames)}" if frames else "on no frames"
    threshold = (report.get("overall") or {}).get("threshold")
    at = "" if threshold is None else f", threshold {float(threshold):.2f}"
    return f"{report['model']} ({report['algorithm']}) {where}{at}"


def verification_frames(verification: J) -> list[Any]:
    """The frames a verification's rows name, in order (None, records scored without a frame, last)."""
    frames = {row["frame"] for row in verification["rows"] if row["frame"] != "all"}
    return sorted(f for f in frames if f is not None) + ([None] if None in frames else [])


def verification_subtitle(verification: J) -> str:
    frames = [f for f in verification_frames(verification) if f is not None]
    return f"{verification['model']}" + (f" on frames {format_frames(frames)}" if frames else "")


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def _operating_point(axes: Axes, x: float, y: float, threshold: Any) -> None:
    axes.plot([x], [y], marker="o", markersize=8, color=VERMILLION, linestyle="none",
              label=f"threshold {float(threshold):.2f}", gid="operating-point")  # fmt: skip


def _rates(axes: Axes, x_label: str, y_label: str, legend: Literal["lower right", "upper right"]) -> None:
    """Axes of two rates, each from 0 to 1."""
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.legend(loc=legend)


def roc(report: J) -> Draw:
    points = (report.get("curves") or {}).get("roc") or []
    overall = report.get("overall") or {}

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        title(figure, axes, "ROC curve", report_subtitle(report))
        if not points:
            empty(axes, "No ROC curve: the frames evaluated hold only one class.")
            return
        axes.plot([0, 1], [0, 1], linestyle="--", linewidth=1, color=GREY, label="chance", gid="chance")
        axes.plot([p["fpr"] for p in points], [p["tpr"] for p in points], color=BLUE, linewidth=2,
                  label=f"ROC AUC {decimals(overall.get('roc_auc'))}", gid="roc-curve")  # fmt: skip
        confusion = overall.get("confusion")
        if confusion:
            negatives, positives = confusion["tn"] + confusion["fp"], confusion["tp"] + confusion["fn"]
            if negatives and positives:
                _operating_point(axes, confusion["fp"] / negatives, confusion["tp"] / positives, overall["threshold"])
        _rates(axes, "False positive rate (share of negatives flagged)", "True positive rate (recall)", "lower right")

    return draw


def pr(report: J) -> Draw:
    points = (report.get("curves") or {}).get("pr") or []
    overall = report.get("overall") or {}

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        title(figure, axes, "Precision-recall curve", report_subtitle(report))
        if not points:
            empty(axes, "No precision-recall curve: the frames evaluated hold only one class.")
            return
        if overall.get("rows"):
            base = overall["positives"] / overall["rows"]
            axes.axhline(base, linestyle="--", linewidth=1, color=GREY, label=f"base rate {base:.4f}", gid="base-rate")
        axes.plot([p["recall"] for p in points], [p["precision"] for p in points], color=BLUE, linewidth=2,
                  label=f"PR AUC {decimals(overall.get('pr_auc'))}", gid="pr-curve")  # fmt: skip
        confusion = overall.get("confusion")
        if confusion and confusion["tp"] + confusion["fp"] and confusion["tp"] + confusion["fn"]:
            _operating_point(axes, overall["recall"], overall["precision"], overall["threshold"])
        _rates(axes, "Recall (share of positives flagged)", "Precision (share of flagged that are positive)",
               "upper right")  # fmt: skip

    return draw


def confusion(report: J) -> Draw:
    overall = report.get("overall") or {}

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        counts = overall.get("confusion")
        kpis = f"precision {decimals(overall.get('precision'))}, recall {decimals(overall.get('recall'))}, " \
               f"F1 {decimals(overall.get('f1'))}"  # fmt: skip
        threshold = overall.get("threshold")
        heading = "Confusion matrix" + ("" if threshold is None else f" at threshold {float(threshold):.2f}")
        title(figure, axes, heading, f"{report_subtitle(report)}\n{kpis}")
        if not counts:
            empty(axes, "No confusion matrix: no rows were evaluated.")
            return
        cells = [[("TN", counts["tn"]), ("FP", counts["fp"])], [("FN", counts["fn"]), ("TP", counts["tp"])]]
        shares = [[n / max(1, sum(c for _, c in row)) for _, n in row] for row in cells]
        # Drawn as four vector cells (an image would be a bitmap inside the SVG); each cell says its share.
        axes.pcolormesh([-0.5, 0.5, 1.5], [-0.5, 0.5, 1.5], shares, cmap=SEQUENTIAL, vmin=0, vmax=1,
                        edgecolors="white", linewidth=2)  # fmt: skip
        axes.invert_yaxis()
        for i, row in enumerate(cells):
            for j, (name, count) in enumerate(row):
                # cividis runs from dark blue to light yellow: white text on the dark half, black on the light.
                colour = "white" if shares[i][j] < 0.55 else "black"
                axes.text(j, i, f"{name} {count:,}", ha="center", va="bottom", fontsize=14, fontweight="bold",
                          color=colour, gid=f"cell-{name.lower()}")  # fmt: skip
                axes.text(j, i, f"{shares[i][j]:.2%} of actual {i}", ha="center", va="top", fontsize=9, color=colour)
        axes.grid(False)
        axes.set_xticks([0, 1], ["0 (not flagged)", "1 (flagged)"])
        axes.set_yticks([0, 1], ["0 (negative)", "1 (positive)"])
        axes.set_xlabel("Predicted (colour: share of the actual class, dark 0% to light 100%)")
        axes.set_ylabel("Actual")

    return draw


def _frame_axis(axes: Axes, labels: list[str]) -> None:
    axes.set_xticks(range(len(labels)), labels)
    axes.set_xlabel("Frame")


def kpi_by_frame(report: J) -> Draw:
    per_frame: J = report.get("per_frame") or {}
    frames = sorted(per_frame, key=int)

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        title(figure, axes, "KPIs by frame", report_subtitle(report))
        if not frames:
            empty(axes, "No frames were evaluated.")
            return
        for i, (key, label) in enumerate(_KPIS.items()):
            axes.plot(range(len(frames)), [_number(per_frame[f].get(key)) for f in frames], color=SERIES[i],
                      marker=MARKERS[i], linewidth=1.5, label=label, gid=f"kpi-{key}")  # fmt: skip
        _frame_axis(axes, frames)
        axes.set_ylabel("Value (0 to 1)")
        axes.set_ylim(0, 1.05)
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))

    return draw


def importances(report: J) -> Draw:
    found: J = report.get("importance") or {}
    top = list(found.items())[:TOP_FEATURES]

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        shown = f", the top {len(top)} of {len(found)} features" if len(found) > len(top) else ""
        title(figure, axes, "Feature importances", f"{report['model']} ({report['algorithm']}){shown}")
        if not top:
            empty(axes, "No feature importances were recorded.")
            return
        names, values = [n for n, _ in reversed(top)], [float(v) for _, v in reversed(top)]
        bars = axes.barh(names, values, color=BLUE)
        _name_bars(bars, "importance")
        axes.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=2, fontsize=8)
        axes.grid(axis="y", visible=False)
        axes.set_xlabel("Importance (share of the total: all features sum to 1)")
        axes.set_ylabel("Feature")
        axes.tick_params(axis="y", labelsize=8)

    return draw


def _name_bars(bars: Iterable[Artist], prefix: str) -> None:
    """An id for each bar (`prefix-0`, `prefix-1`, ...): what it is, to find in the SVG."""
    for i, bar in enumerate(bars):
        bar.set_gid(f"{prefix}-{i}")


def _by_model(verification: J) -> dict[str, dict[Any, J]]:
    models: dict[str, dict[Any, J]] = {}
    for row in verification["rows"]:
        if row["frame"] != "all":
            models.setdefault(row["model"], {})[row["frame"]] = row
    return models


def _frame_labels(frames: list[Any]) -> list[str]:
    return ["no frame" if f is None else str(f) for f in frames]


def realized_kpi_by_frame(verification: J) -> Draw:
    models, frames = _by_model(verification), verification_frames(verification)

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        title(figure, axes, "Realized KPIs by frame", verification_subtitle(verification))
        realized = [row.get("roc_auc") for rows in models.values() for row in rows.values()]
        if all(value is None for value in realized):
            empty(axes, "No realized KPIs yet: no frame has labelled records of both classes.")
            return
        for m, (model, rows) in enumerate(models.items()):
            for k, (key, label) in enumerate((("roc_auc", "ROC AUC"), ("pr_auc", "PR AUC"))):
                colour, marker = SERIES[(2 * m + k) % len(SERIES)], MARKERS[(2 * m + k) % len(MARKERS)]
                line = [_number(rows.get(f, {}).get(key)) for f in frames]
                reference = [_number(rows.get(f, {}).get(f"report_{key}")) for f in frames]
                axes.plot(range(len(frames)), line, color=colour, marker=marker, linewidth=1.8,
                          label=f"{model} {label}", gid=f"realized-{key}-{m}")  # fmt: skip
                axes.plot(range(len(frames)), reference, color=colour, linestyle="--", linewidth=1.2,
                          label=f"{model} {label} (training report)", gid=f"report-{key}-{m}")  # fmt: skip
        _frame_axis(axes, _frame_labels(frames))
        axes.set_ylabel("Value (0 to 1)")
        axes.set_ylim(0, 1.05)
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)

    return draw


def labelled_by_frame(verification: J) -> Draw:
    models, frames = _by_model(verification), verification_frames(verification)

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        title(figure, axes, "Labelled and unlabelled scores by frame", verification_subtitle(verification))
        if not frames:
            empty(axes, "Nothing scored yet.")
            return
        width = 0.8 / len(models)
        hatches = ("", "//", "..", "xx", "\\\\", "++")
        for m, (model, rows) in enumerate(models.items()):
            where = [i - 0.4 + width * (m + 0.5) for i in range(len(frames))]
            labelled = [rows.get(f, {}).get("labelled", 0) for f in frames]
            unlabelled = [rows.get(f, {}).get("unlabelled", 0) for f in frames]
            hatch = hatches[m % len(hatches)]
            bars = axes.bar(where, labelled, width, color=BLUE, hatch=hatch, edgecolor="white",
                            label=f"{model} labelled")  # fmt: skip
            _name_bars(bars, f"labelled-{m}")
            bars = axes.bar(where, unlabelled, width, bottom=labelled, color=ORANGE, hatch=hatch, edgecolor="white",
                            label=f"{model} unlabelled")  # fmt: skip
            _name_bars(bars, f"unlabelled-{m}")
        _frame_axis(axes, _frame_labels(frames))
        axes.grid(axis="x", visible=False)
        axes.set_ylabel("Scored records")
        axes.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)

    return draw


REPORT_PLOTS: dict[str, Callable[[J], Draw]] = {
    "roc": roc, "pr": pr, "confusion": confusion, "kpi-by-frame": kpi_by_frame, "importances": importances,
}  # fmt: skip
"""The pictures of a model report by name (`crispml.contract.requests.ReportPlot`)."""
VERIFICATION_PLOTS: dict[str, Callable[[J], Draw]] = {
    "kpi-by-frame": realized_kpi_by_frame, "labelled": labelled_by_frame,
}  # fmt: skip
"""The pictures of a verification by name (`crispml.contract.requests.VerificationPlot`)."""


def _chosen(plots: dict[str, Callable[[J], Draw]], plot: str) -> Callable[[J], Draw]:
    if plot not in plots:
        raise InvalidInput(f"plot {plot!r} is not one of {', '.join(plots)}", field="plot")
    return plots[plot]


def report_plot(report: J, plot: str, image_format: ImageFormat = "svg") -> bytes:
    """One picture of a model report (the JSON answer of the report route), as SVG or PNG bytes."""
    return render(_chosen(REPORT_PLOTS, plot)(report), image_format)


def verification_plot(verification: J, plot: str, image_format: ImageFormat = "svg") -> bytes:
    """One picture of a verification (the JSON answer of the verification route), as SVG or PNG bytes."""
    return render(_chosen(VERIFICATION_PLOTS, plot)(verification), image_format)
