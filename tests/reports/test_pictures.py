"""The pictures and pages drawn from a report's and a verification's answers (no store, no server)."""

from __future__ import annotations

import ast
import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, get_args

import pytest

import crispml.reports
from crispml.contract.requests import ImageFormat, ReportPlot, VerificationPlot
from crispml.errors import InvalidInput
from crispml.reports import (
    PNG_SIZE,
    REPORT_PLOTS,
    VERIFICATION_PLOTS,
    report_page,
    report_plot,
    verification_page,
    verification_plot,
)

SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def kpis(tn: int, fp: int, fn: int, tp: int, threshold: float = 0.5, auc: float = 0.9512) -> dict[str, Any]:
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return {"rows": tn + fp + fn + tp, "positives": fn + tp, "threshold": threshold, "roc_auc": auc, "pr_auc": 0.7123,
            "precision": precision, "recall": recall, "f1": 2 * precision * recall / (precision + recall),
            "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp}}  # fmt: skip


REPORT: dict[str, Any] = {
    "model": "fraud/1",
    "algorithm": "rf",
    "frames": [7, 8, 9],
    "overall": kpis(5970, 6, 9, 15),
    "per_frame": {"7": kpis(1990, 2, 3, 5), "8": kpis(1990, 2, 3, 5, auc=0.8801), "9": kpis(1990, 2, 3, 5)},
    "curves": {
        "roc": [{"fpr": x / 20, "tpr": min(1.0, (x / 20) ** 0.3)} for x in range(21)],
        "pr": [{"recall": x / 20, "precision": 1 - (x / 20) ** 3} for x in range(21)],
    },
    # Names come from a dataset's columns: markup and TeX in them are only text.
    "importance": {"V14": 0.4, "<script>alert(1)</script>": 0.3, "$x_1$": 0.2, **{f"V{i}": 0.003 for i in range(30)}},
}
VERIFICATION: dict[str, Any] = {
    "model": "fraud@champion",
    "rows": [
        {"model": "fraud/1", "frame": 7, "scored": 2000, "labelled": 2000, "unlabelled": 0, "positives": 8,
         "roc_auc": 0.9345, "pr_auc": 0.6012, "precision": 0.5, "recall": 0.625, "f1": 0.5556,
         "report_roc_auc": 0.9512, "report_pr_auc": 0.7123},
        {"model": "fraud/1", "frame": 8, "scored": 2000, "labelled": 0, "unlabelled": 2000, "positives": 0,
         "roc_auc": None, "pr_auc": None, "precision": None, "recall": None, "f1": None,
         "report_roc_auc": 0.8801, "report_pr_auc": 0.7123},
        {"model": "fraud/1", "frame": "all", "scored": 4000, "labelled": 2000, "unlabelled": 2000, "positives": 8,
         "roc_auc": 0.9345, "pr_auc": 0.6012, "precision": 0.5, "recall": 0.625, "f1": 0.5556,
         "report_roc_auc": 0.9512, "report_pr_auc": 0.7123},
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def page() -> str:
    """The report's page, drawn once for the tests that read it."""
    return report_page(REPORT)


def svg_tree(data: bytes) -> ET.Element:
    return ET.fromstring(data)


def texts(root: ET.Element) -> str:
    """Every text an SVG shows, one line each."""
    return "\n".join("".join(t.itertext()) for t in root.iter(f"{SVG}text"))


def group_ids(root: ET.Element) -> set[str]:
    return {g.get("id", "") for g in root.iter(f"{SVG}g")}


def test_the_plot_names_are_the_declared_ones() -> None:
    assert tuple(REPORT_PLOTS) == get_args(ReportPlot)
    assert tuple(VERIFICATION_PLOTS) == get_args(VerificationPlot)


@pytest.mark.parametrize(
    ("plot", "heading", "drawn"),
    [
        ("roc", "ROC curve", {"roc-curve", "chance", "operating-point"}),
        ("pr", "Precision-recall curve", {"pr-curve", "base-rate", "operating-point"}),
        ("confusion", "Confusion matrix at threshold 0.50", {"cell-tn", "cell-fp", "cell-fn", "cell-tp"}),
        ("kpi-by-frame", "KPIs by frame", {"kpi-roc_auc", "kpi-pr_auc", "kpi-precision", "kpi-recall", "kpi-f1"}),
        ("importances", "Feature importances", {"importance-0", "importance-19"}),
    ],
)
def test_each_report_picture_is_an_svg_with_its_title_model_frames_and_data(
    plot: str, heading: str, drawn: set[str]
) -> None:
    root = svg_tree(report_plot(REPORT, plot))
    shown = texts(root)
    assert heading in shown and "fraud/1 (rf)" in shown
    assert plot == "importances" or "on frames 7-9, threshold 0.50" in shown
    assert drawn <= group_ids(root)
    # Curves and bars are paths with data in them, not an empty frame.
    assert all(any(p.get("d") for p in g.iter(f"{SVG}path")) or g.get("id", "").startswith("cell-")
               for g in root.iter(f"{SVG}g") if g.get("id") in drawn)  # fmt: skip


def test_the_curves_hold_every_point() -> None:
    root = svg_tree(report_plot(REPORT, "roc"))
    curve = next(g for g in root.iter(f"{SVG}g") if g.get("id") == "roc-curve")
    path = next(p.get("d", "") for p in curve.iter(f"{SVG}path"))
    assert len(re.findall(r"[ML] ", path)) == len(REPORT["curves"]["roc"])


def test_the_confusion_matrix_shows_the_answers_counts_and_rates() -> None:
    shown = texts(svg_tree(report_plot(REPORT, "confusion")))
    assert {"TN 5,970", "FP 6", "FN 9", "TP 15"} <= set(shown.splitlines())
    assert "precision 0.7143, recall 0.6250" in shown


def test_names_from_the_data_are_text_only(page: str) -> None:
    picture = report_plot(REPORT, "importances")
    shown = texts(svg_tree(picture))
    assert "<script>alert(1)</script>" in shown and "$x_1$" in shown  # drawn as written, TeX not parsed
    assert b"<script" not in picture
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("image_format", get_args(ImageFormat))
def test_a_picture_is_the_same_bytes_each_time(image_format: ImageFormat) -> None:
    assert verification_plot(VERIFICATION, "labelled", image_format) == verification_plot(
        VERIFICATION, "labelled", image_format
    )


def test_pngs_are_slide_sized_images() -> None:
    from PIL import Image

    for picture in (report_plot(REPORT, "roc", "png"), verification_plot(VERIFICATION, "kpi-by-frame", "png")):
        assert picture.startswith(PNG_SIGNATURE)
        with Image.open(io.BytesIO(picture)) as image:
            image.load()
            assert image.size == PNG_SIZE == (1200, 675)


def test_the_verification_pictures_show_frames_counts_and_realized_kpis() -> None:
    labelled = svg_tree(verification_plot(VERIFICATION, "labelled"))
    assert "Labelled and unlabelled scores by frame" in texts(labelled)
    assert "fraud@champion on frames 7-8" in texts(labelled)
    assert {"labelled-0-0", "labelled-0-1", "unlabelled-0-1"} <= group_ids(labelled)
    realized = svg_tree(verification_plot(VERIFICATION, "kpi-by-frame"))
    assert "Realized KPIs by frame" in texts(realized) and "fraud/1 ROC AUC (training report)" in texts(realized)
    assert {"realized-roc_auc-0", "report-roc_auc-0", "realized-pr_auc-0"} <= group_ids(realized)


def test_nothing_to_draw_is_said_in_words() -> None:
    nothing = {"model": "fraud/2", "algorithm": "rf", "frames": [], "overall": None, "per_frame": {}, "curves": {},
               "importance": {}}  # fmt: skip
    assert "only one class" in texts(svg_tree(report_plot(nothing, "roc")))
    assert "no rows were evaluated" in texts(svg_tree(report_plot(nothing, "confusion")))
    unlabelled = {"model": "fraud/1", "rows": [{**VERIFICATION["rows"][1], "frame": 9}]}
    assert "No realized KPIs yet" in texts(svg_tree(verification_plot(unlabelled, "kpi-by-frame")))
    assert "Nothing scored yet" in texts(svg_tree(verification_plot({"model": "fraud", "rows": []}, "labelled")))
    assert "Nothing scored yet" in verification_page({"model": "fraud", "rows": []})


def test_unknown_plots_and_formats_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput, match="'lift' is not one of roc, pr") as plot:
        report_plot(REPORT, "lift")
    with pytest.raises(InvalidInput, match="'gif' is not one of svg, png") as image_format:
        verification_plot(VERIFICATION, "labelled", "gif")  # type: ignore[arg-type]
    assert (plot.value.field, image_format.value.field) == ("plot", "format")


def fetched(page: str) -> list[str]:
    """Every address the page would load something from (scripts, styles, images, frames, imports)."""
    attributes = re.findall(r"""\b(?:src|href|srcset|data|action|poster)\s*=\s*["']?([^"'\s>]+)""", page, re.I)
    return [a for a in attributes if not a.startswith("#")] + re.findall(r"url\(\s*['\"]?(?!#)([^)'\"]+)", page)


def test_the_report_page_holds_every_picture_and_the_answers_kpis_and_fetches_nothing(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and "<title>Model report: fraud/1</title>" in page
    assert fetched(page) == [] and "<script" not in page.lower() and "<link" not in page.lower()
    assert "default-src 'none'" in page
    for plot in REPORT_PLOTS:
        assert f'<section id="plot-{plot}">' in page
    assert page.count("<svg ") == len(REPORT_PLOTS)
    for kpi in ("roc_auc", "pr_auc", "precision", "recall", "f1"):
        assert f"<td>{REPORT['overall'][kpi]:.4f}</td>" in page
    assert "<td>0.8801</td>" in page  # frame 8's own ROC AUC
    # Several pictures on one page never share an id.
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_the_verification_page_holds_its_pictures_and_rows() -> None:
    page = verification_page(VERIFICATION)
    assert fetched(page) == [] and page.count("<svg ") == len(VERIFICATION_PLOTS)
    assert "<title>Verification: fraud@champion</title>" in page
    assert "<td>0.9345</td>" in page and "<td>2,000</td>" in page and "<td>all</td>" in page


def test_matplotlib_is_imported_only_when_a_picture_is_drawn() -> None:
    package = Path(crispml.reports.__file__).parent
    for source in package.glob("*.py"):
        top_level = ast.parse(source.read_text()).body
        imported = {alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)}
        assert not {m for m in imported if m.startswith("matplotlib")}, source.name
