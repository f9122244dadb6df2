"""Self-contained HTML pages of a model report and of a verification: KPI tables and every picture,
inline (SVG in the page, CSS in the page, no script); they open offline, and their Content-Security-Policy
forbids fetching anything at all."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from crispml.reports.drawing import decimals
from crispml.reports.figures import (
    REPORT_PLOTS,
    VERIFICATION_PLOTS,
    report_plot,
    report_subtitle,
    verification_plot,
    verification_subtitle,
)

J = dict[str, Any]

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1a1a1a;background:#fff;
margin:0 auto;padding:1.5rem;max-width:64rem;line-height:1.45}
h1{font-size:1.6rem;margin:0 0 .25rem}h2{font-size:1.2rem;margin:2rem 0 .5rem;border-bottom:1px solid #ccc}
.meta{color:#555;margin:0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:.5rem 0;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e2e2e2;text-align:right}
th:first-child,td:first-child{text-align:left}thead th{border-bottom:2px solid #888}
.scroll{overflow-x:auto}
figure{margin:1rem 0}figure svg{width:100%;height:auto;max-width:60rem}
figcaption{color:#555;font-size:.9rem}
@media print{h2{break-after:avoid}figure{break-inside:avoid}}
"""
# Nothing may be fetched: styles are inline, pictures are inline SVG (a data: image at most).
_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_KPI_HEADERS = ("frame", "rows", "positives", "ROC AUC", "PR AUC", "precision", "recall", "F1",
                "TN", "FP", "FN", "TP")  # fmt: skip
_VERIFY_HEADERS = ("model", "frame", "scored", "labelled", "unlabelled", "positives", "ROC AUC",
                   "ROC AUC (report)", "PR AUC", "PR AUC (report)", "precision", "recall", "F1")  # fmt: skip
_CAPTIONS = {
    "roc": "ROC curve: true positive rate against false positive rate over every threshold; the dot is the "
    "threshold in force.",
    "pr": "Precision-recall curve; the dashed line is the share of positives (what chance would score).",
    "confusion": "Confusion matrix at the threshold: counts, coloured by their share of the actual class.",
    "kpi-by-frame": "KPIs per frame: a frame that drifts shows as a dip.",
    "importances": "Feature importances, highest first.",
}
_VERIFY_CAPTIONS = {
    "kpi-by-frame": "Realized ROC AUC and PR AUC on labelled scores (solid) beside the training report's (dashed).",
    "labelled": "Scored records per frame: labelled (ground truth known) and unlabelled.",
}
_HEADINGS = {"roc": "ROC curve", "pr": "Precision-recall curve", "confusion": "Confusion matrix",
             "kpi-by-frame": "KPIs by frame", "importances": "Feature importances"}  # fmt: skip
_VERIFY_HEADINGS = {"kpi-by-frame": "Realized KPIs by frame", "labelled": "Labelled and unlabelled by frame"}


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return decimals(value)
    return escape(str(value))


def _table(headers: tuple[str, ...], rows: list[list[Any]]) -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


_PROLOGUE = re.compile(r"^\s*<\?xml[^>]*\?>\s*(<!DOCTYPE[^>]*>\s*)?", re.DOTALL)
_IDS = re.compile(r'(\bid="|xlink:href="#|\bhref="#|url\(#)([^")]+)')


def inline_svg(svg: bytes, prefix: str, label: str) -> str:
    """An SVG document as an element of a page: no XML prologue, its ids prefixed so that several
    pictures on one page never share one, and named for screen readers."""
    text = _PROLOGUE.sub("", svg.decode("utf-8"), count=1)
    text = _IDS.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", text)
    return text.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1)


def _figure(svg: bytes, prefix: str, heading: str, caption: str) -> str:
    return (f'<section id="{prefix}"><h2>{escape(heading)}</h2><figure>{inline_svg(svg, prefix, heading)}'
            f"<figcaption>{escape(caption)}</figcaption></figure></section>")  # fmt: skip


def _page(title: str, meta: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f'<body><header><h1>{escape(title)}</h1><p class="meta">{escape(meta)}</p></header>'
        f"<main>{body}</main></body></html>\n"
    )


def _kpi_row(frame: str, kpis: J) -> list[Any]:
    confusion = kpis.get("confusion") or {}
    return [frame, *(kpis.get(k) for k in ("rows", "positives", "roc_auc", "pr_auc", "precision", "recall", "f1")),
            *(confusion.get(k) for k in ("tn", "fp", "fn", "tp"))]  # fmt: skip


def report_page(report: J) -> str:
    """A model report (the JSON answer of the report route) as one self-contained HTML page."""
    per_frame: J = report.get("per_frame") or {}
    rows = [_kpi_row(frame, per_frame[frame]) for frame in sorted(per_frame, key=int)]
    if report.get("overall"):
        rows.append(_kpi_row("all", report["overall"]))
    parts = [f'<section id="kpis"><h2>KPIs</h2>{_table(_KPI_HEADERS, rows)}</section>']
    parts += [_figure(report_plot(report, plot), f"plot-{plot}", _HEADINGS[plot], _CAPTIONS[plot])
              for plot in REPORT_PLOTS]  # fmt: skip
    return _page(f"Model report: {report['model']}", report_subtitle(report), "".join(parts))


def verification_page(verification: J) -> str:
    """A verification (the JSON answer of the verification route) as one self-contained HTML page."""
    rows = [[row.get(k) for k in ("model", "frame", "scored", "labelled", "unlabelled", "positives", "roc_auc",
                                  "report_roc_auc", "pr_auc", "report_pr_auc", "precision", "recall", "f1")]
            for row in verification["rows"]]  # fmt: skip
    table = _table(_VERIFY_HEADERS, rows) if rows else "<p>Nothing scored yet.</p>"
    parts = [f'<section id="kpis"><h2>Scores against labels</h2>{table}</section>']
    parts += [_figure(verification_plot(verification, plot), f"plot-{plot}", _VERIFY_HEADINGS[plot],
                      _VERIFY_CAPTIONS[plot]) for plot in VERIFICATION_PLOTS]  # fmt: skip
    return _page(f"Verification: {verification['model']}", verification_subtitle(verification), "".join(parts))
