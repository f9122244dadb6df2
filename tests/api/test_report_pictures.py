"""Reports as pictures over HTTP, through the Python client and on the command line (local and --remote):
one server and one trained, scored and partly labelled model for the whole module."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from crispml.client import Client
from crispml.errors import InvalidInput
from tests.api.conftest import Server
from tests.cli.conftest import run
from tests.reports.test_pictures import PNG_SIGNATURE, SVG, fetched, texts

REPORT_PLOTS = ("roc", "pr", "confusion", "kpi-by-frame", "importances")
PLOTS = "/api/v1/models/fraud/versions/1/report/plots"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Iterator[Server]:
    """A server whose model fraud/1 is the champion, has scored frames 7-9 and knows the truth of 7-8."""
    home = tmp_path_factory.mktemp("pictures") / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    server = Server(home, None).start()
    try:
        with Client(server.url, timeout=300) as api:
            api.ingest("creditcard.csv", name="ccf")
            curated = api.curate(api.prepare("ccf")["id"], frames="1-6")
            api.train(curated["id"], name="fraud", weight=10, params={"n_estimators": 10})
            api.persist("fraud", 1)
            api.score("fraud", dataset="ccf", frames="7-9")
            api.label(dataset="ccf", frames="7-8")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def api(served: Server) -> Iterator[Client]:
    with Client(served.url, timeout=300) as client:
        yield client


def confusion_counts(svg: bytes) -> dict[str, int]:
    cells = re.findall(r"^(TN|FP|FN|TP) ([\d,]+)$", texts(ET.fromstring(svg)), re.M)
    return {name.lower(): int(count.replace(",", "")) for name, count in cells}


def test_every_report_picture_over_http(served: Server) -> None:
    with httpx.Client(base_url=served.url, timeout=120) as http:
        for plot in REPORT_PLOTS:
            answer = http.get(f"{PLOTS}/{plot}")
            assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml", answer.text
            assert answer.headers["content-security-policy"].startswith("default-src 'none'")
            shown = texts(ET.fromstring(answer.content))
            assert "fraud/1 (rf)" in shown and (plot == "importances" or "on frames 7-12" in shown)
        png = http.get(f"{PLOTS}/roc", params={"format": "png"})
        assert png.headers["content-type"] == "image/png" and png.content.startswith(PNG_SIGNATURE)
        assert 'filename="fraud-1-roc.png"' in png.headers["content-disposition"]


def test_the_html_report_shows_the_json_reports_numbers_and_fetches_nothing(served: Server, api: Client) -> None:
    report = api.report("fraud", 1)
    # The JSON answer holds no picture: the figures and the calibration fitted at training, nothing drawn.
    keys = {"model", "algorithm", "frames", "overall", "per_frame", "curves", "importance", "seed", "calibration"}
    assert set(report) == keys
    page = api.report("fraud", 1, format="html")
    answer = httpx.get(f"{served.url}/api/v1/models/fraud/versions/1/report", params={"format": "html"}, timeout=60)
    assert answer.headers["content-type"].startswith("text/html") and answer.text == page
    assert fetched(page) == [] and "<script" not in page.lower()
    assert all(f'id="plot-{plot}"' in page for plot in REPORT_PLOTS) and page.count("<svg ") == len(REPORT_PLOTS)
    for kpi in ("roc_auc", "pr_auc", "precision", "recall", "f1"):
        assert f"<td>{report['overall'][kpi]:.4f}</td>" in page, kpi
    assert f"<td>{report['per_frame']['9']['roc_auc']:.4f}</td>" in page
    assert confusion_counts(api.report_plot("fraud", 1, "confusion")) == report["overall"]["confusion"]


def test_the_threshold_moves_the_confusion_matrix(api: Client) -> None:
    default = confusion_counts(api.report_plot("fraud", 1, "confusion"))
    low = confusion_counts(api.report_plot("fraud", 1, "confusion", threshold=0.05))
    assert low["tp"] + low["fp"] > default["tp"] + default["fp"]  # a lower bar flags more records
    assert sum(low.values()) == sum(default.values())
    at_low = api.report("fraud", 1, threshold=0.05)
    assert at_low["overall"]["confusion"] == low and at_low["overall"]["threshold"] == 0.05
    assert at_low["curves"] == api.report("fraud", 1)["curves"]  # the curves do not depend on it
    page = api.report("fraud", 1, threshold=0.05, format="html")
    assert "Confusion matrix at threshold 0.05" in page and f"TP {low['tp']:,}" in page
    assert f"<td>{at_low['overall']['recall']:.4f}</td>" in page


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        (f"{PLOTS}/lift", {}, "plot"),
        (f"{PLOTS}/roc", {"format": "gif"}, "format"),
        (f"{PLOTS}/confusion", {"threshold": "1.5"}, "threshold"),
        ("/api/v1/models/fraud/versions/1/report", {"format": "pdf"}, "format"),
        ("/api/v1/reports/verification/plots/roc", {"model": "fraud"}, "plot"),
        ("/api/v1/reports/verification", {"model": "fraud", "format": "svg"}, "format"),
    ],
)
def test_unknown_plots_and_formats_are_refused_naming_the_field(
    served: Server, path: str, params: dict[str, str], field: str
) -> None:
    answer = httpx.get(f"{served.url}{path}", params=params, timeout=60)
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text


def test_the_verification_pictures_and_page(api: Client) -> None:
    verification = api.verify("fraud@champion")
    counted = {row["frame"]: row for row in verification["rows"]}
    assert counted[9]["labelled"] == 0 and counted[7]["unlabelled"] == 0
    labelled = ET.fromstring(api.verify_plot("fraud@champion", "labelled"))
    assert "fraud@champion on frames 7-9" in texts(labelled)
    assert {"labelled-0-0", "unlabelled-0-2"} <= {g.get("id") for g in labelled.iter(f"{SVG}g")}
    realized = api.verify_plot("fraud@champion", "kpi-by-frame", format="png")
    assert realized.startswith(PNG_SIGNATURE)
    page = api.verify("fraud@champion", format="html")
    assert fetched(page) == [] and page.count("<svg ") == 2
    assert f"<td>{counted['all']['roc_auc']:.4f}</td>" in page
    assert f"<td>{counted[9]['unlabelled']:,}</td>" in page


def test_the_cli_writes_the_same_pages_and_pictures_locally_and_remotely(served: Server, tmp_path: Path) -> None:
    local_env: dict[str, str | None] = {"CRISPML_HOME": served.env["CRISPML_HOME"], "CRISPML_USER": "cli"}
    written: dict[str, Any] = {}
    for where, extra in (("local", []), ("remote", ["--remote", served.url])):
        out = tmp_path / where
        report = run(["report", "fraud/1", "--html", str(out / "report.html"), "--png", str(out / "slides"), *extra],
                     local_env)  # fmt: skip
        assert f"wrote {out / 'report.html'}" in report.stderr.replace("\n", "") and "ROC AUC" in report.stdout
        verified = run(["verify", "fraud@champion", "--html", str(out / "verify.html"), "--png", str(out / "slides"),
                        "--json", *extra], local_env)  # fmt: skip
        assert verified.json["model"] == "fraud@champion"  # --json: stdout is the JSON answer alone
        written[where] = {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    expected = {"report.html", "verify.html", *(f"slides/fraud-1-{plot}.png" for plot in REPORT_PLOTS),
                "slides/fraud-champion-verification-kpi-by-frame.png",
                "slides/fraud-champion-verification-labelled.png"}  # fmt: skip
    assert set(written["local"]) == set(written["remote"]) == expected
    assert all(data.startswith(PNG_SIGNATURE) for name, data in written["local"].items() if name.endswith(".png"))
    # One renderer, one answer: the same bytes wherever they were drawn.
    assert written["local"] == written["remote"]
    page = written["remote"]["report.html"].decode()
    assert "<title>Model report: fraud/1</title>" in page and fetched(page) == []


def test_a_file_that_cannot_be_written_is_named(served: Server, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env: dict[str, str | None] = {"CRISPML_HOME": served.env["CRISPML_HOME"]}
    ran = run(["report", "fraud/1", "--html", str(blocker / "report.html")], env, expect=None)
    assert ran.code != 0 and f"cannot write {blocker / 'report.html'}" in ran.text.replace("\n", "")


def test_a_bad_threshold_is_refused_by_name(api: Client) -> None:
    with pytest.raises(InvalidInput) as refused:
        api.report("fraud", 1, threshold=1.0)
    assert refused.value.field == "threshold"
