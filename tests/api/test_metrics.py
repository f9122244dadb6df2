"""GET /metrics after a small lifecycle on one real server of two worker processes (for the whole module):
the series and their label values as prometheus-client's parser reads them, summed over both workers
(prometheus-client's multiprocess mode), a real Prometheus scraping the server, and the Grafana
dashboard's queries against what the server emits. One worker's default registry is tested in-process."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from crispml.api.app import create_app
from crispml.client import Client
from crispml.observability.tally import FOLD_EVERY_S
from crispml.settings import Settings
from tests.api.conftest import Server, free_port
from tests.conftest import wait_for

SCORE_ROUTE = "/api/v1/models/{name}/score"
REQUEST_COUNT = "crispml_http_request_duration_seconds_count"
PROMETHEUS = "/usr/bin/prometheus"
GRAFANA = Path(__file__).parents[2] / "deploy" / "grafana"

Samples = list[tuple[str, dict[str, str], float]]


def scrape(url: str, **headers: str) -> Samples:
    answer = httpx.get(f"{url}/metrics", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return scrape_text(answer.text)


def scrape_text(text: str) -> Samples:
    return [(s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples]


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """The sum of the samples of `metric` whose labels include `labels` (0 if none)."""
    return sum(v for n, got, v in samples if n == metric and labels.items() <= got.items())


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {got[label] for n, got, _ in samples if n == name and label in got}


class Lifecycle:
    """What the module's server went through, to compare /metrics with."""

    def __init__(self, server: Server, small_csv: Path, home: Path) -> None:
        self.server = server
        self.metrics_folder = home / "metrics" / str(server.port)
        """Where the workers keep their values (see `crispml.api.server.metrics_folder`)."""
        with Client(server.url, timeout=300) as client:
            client.ingest("creditcard.csv", name="ccf", percent_data=0.25)
            prepared = client.prepare("ccf")
            curated = client.curate(prepared["id"], algorithm="rf", frames="1-6")
            client.train(curated["id"], name="fraud", params={"n_estimators": 5})
            client.persist("fraud", 1)
            self.dataset_rows = client.score("fraud", dataset="ccf", frames="7-12")["rows"]
            rows = pd.read_csv(small_csv)
            features = rows.drop(columns="Class")
            # A few requests of a few records: the first is read through, the next take the hot path.
            picked = [*rows.index[rows["Class"] == 1][:2], *rows.index[rows["Class"] == 0][:4]]
            self.record_batches = [client.score("fraud", records=features.loc[pair].to_dict("records"))
                                   for pair in (picked[:2], picked[2:4], picked[4:])]  # fmt: skip
            scored = [s["record_id"] for batch in self.record_batches for s in batch["scores"]]
            truth = [{"record_id": r, "label": int(rows.loc[i, "Class"])} for r, i in zip(scored, picked, strict=True)]
            self.dataset_labels = client.label(dataset="ccf", frames="7-12")["imported"]
            client.label([*truth, {"record_id": "never-scored", "label": 0}])
            self.verification = client.verify("fraud@champion")["rows"]
        # Routes with ids in their paths, and paths no route has: labelled by template and `unmatched`.
        assert httpx.get(f"{server.url}/api/v1/score-batches/sb-0123456789ab").status_code == 404
        assert httpx.get(f"{server.url}/no/such/page-42").status_code == 404
        # A scrape folds the answering worker's histograms; the other worker folds its own every second.
        time.sleep(FOLD_EVERY_S * 2.5)


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Iterator[Lifecycle]:
    home = tmp_path_factory.mktemp("metrics") / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    # A fresh store: `serve --workers 2` migrates it once before its workers start (they would race).
    server = Server(home, None, serve_options=("--workers", "2")).start()
    try:
        yield Lifecycle(server, small_csv, home)
    finally:
        server.stop()


def test_metrics_count_the_lifecycle_by_route_template_and_model_version(lifecycle: Lifecycle) -> None:
    samples = scrape(lifecycle.server.url)

    routes = label_values(samples, REQUEST_COUNT, "route")
    app = create_app()
    templates = {*app.openapi()["paths"], *(getattr(route, "path_format", None) for route in app.router.routes)}
    assert (
        routes <= templates | {"unmatched"} and {SCORE_ROUTE, "unmatched", "/api/v1/score-batches/{batch_id}"} <= routes
    )
    assert not any("fraud" in route or "sb-" in route or "job-" in route for route in routes)
    assert value(samples, REQUEST_COUNT, route=SCORE_ROUTE, method="POST",
                 status="200") >= 4  # fmt: skip
    assert value(samples, REQUEST_COUNT, route="unmatched", status="404") == 1

    methods = label_values(samples, "crispml_method_duration_seconds_count", "method")
    assert {"ingest", "prepare", "curate", "train", "score", "label", "verify"} <= methods
    assert value(samples, "crispml_method_duration_seconds_count", method="score", outcome="ok") == 4
    assert value(samples, "crispml_method_peak_rss_bytes", method="train") > 50 * 1024 * 1024

    fraud_1 = {"model": "fraud", "version": "1"}
    record_rows = sum(batch["rows"] for batch in lifecycle.record_batches)
    assert value(samples, "crispml_scores_total", **fraud_1) == lifecycle.dataset_rows + record_rows
    assert value(samples, "crispml_score_batches_total", **fraud_1) == 1 + len(lifecycle.record_batches)
    assert value(samples, "crispml_labels_imported_total", **fraud_1) == lifecycle.dataset_labels + record_rows
    assert value(samples, "crispml_labels_unscored_total") == 1
    assert value(samples, "crispml_group_commit_size_count") >= 1
    assert value(samples, "crispml_group_commit_wait_seconds_count") >= 1
    assert value(samples, "crispml_model_cache_loads_total", kind="model") >= 1

    assert value(samples, "crispml_model_info", name="fraud", alias="champion", version="1", algorithm="rf") == 1
    assert value(samples, "crispml_jobs", state="succeeded") >= 3  # ingest, train, the dataset's scores
    assert value(samples, "crispml_job_queue_depth") == 0


def test_verification_sets_labelled_unlabelled_and_kpis_by_frame(lifecycle: Lifecycle) -> None:
    samples = scrape(lifecycle.server.url)
    frames = label_values(samples, "crispml_verification_labelled_records", "frame")
    assert {"7", "12", "none", "all"} <= frames
    for row in lifecycle.verification:
        frame = {"model": "fraud", "version": "1", "frame": "none" if row["frame"] is None else str(row["frame"])}
        assert value(samples, "crispml_verification_labelled_records", **frame) == row["labelled"]
        assert value(samples, "crispml_verification_unlabelled_records", **frame) == row["unlabelled"]
        for kpi in ("roc_auc", "pr_auc", "precision", "recall", "f1"):
            if row[kpi] is not None:
                assert value(samples, "crispml_verification_kpi", kpi=kpi, **frame) == pytest.approx(row[kpi])
    assert value(samples, "crispml_verification_kpi", frame="all", kpi="roc_auc") > 0


def test_a_real_prometheus_scrapes_the_server(lifecycle: Lifecycle, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = lifecycle.server.url.removeprefix("http://")
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: crispml\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    command = [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
               f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with (tmp_path / "prometheus.log").open("wb") as log:
        prometheus = subprocess.Popen(command, stdout=log, stderr=log)
    try:

        def query(promql: str) -> list[dict[str, Any]]:
            assert prometheus.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": promql}, timeout=5)
            except httpx.TransportError:
                return []
            return list(answer.json()["data"]["result"]) if answer.status_code == 200 else []

        wait_for(lambda: bool(query('crispml_scores_total{model="fraud",version="1"}')), timeout=60, poll=0.2)
        (up,) = query('up{job="crispml"}')
        assert up["value"][1] == "1"
        (info,) = query("crispml_model_info")
        assert info["metric"] | {"alias": "champion", "version": "1", "algorithm": "rf"} == info["metric"]
        latency = query(f'crispml_http_request_duration_seconds_count{{route="{SCORE_ROUTE}"}}')
        assert latency and all(series["metric"]["route"] == SCORE_ROUTE for series in latency)
    finally:
        prometheus.terminate()
        prometheus.wait(timeout=30)


_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
                "offset", "inf", "nan"}  # fmt: skip


def metric_names(promql: str) -> set[str]:
    """The metric names a PromQL expression reads: identifiers that are no function, keyword or label."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', promql)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)  # label matchers and ranges
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w$.])[A-Za-z_:][\w:]*", text):
        if not text[match.end() :].lstrip().startswith("(") and match.group(0).lower() not in _NOT_METRICS:
            names.add(match.group(0))
    return names


def dashboard_queries() -> Iterator[tuple[str, str, str]]:
    """(dashboard, panel title, PromQL) of every Prometheus query of the dashboards, variables included."""
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        panels = [p for top in dashboard["panels"] for p in (top, *top.get("panels", []))]
        for panel in panels:
            for target in panel.get("targets", []):
                if "expr" in target:
                    yield path.name, panel["title"], target["expr"]
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            text = query.get("query", "") if isinstance(query, dict) else ""
            if found := re.fullmatch(r"label_values\((\w+),\s*\w+\)", text):
                yield path.name, f"variable {variable['name']}", found.group(1)


def test_every_dashboard_query_names_metrics_the_server_emits(lifecycle: Lifecycle) -> None:
    emitted = {name for name, _labels, _value in scrape(lifecycle.server.url)}
    queries = list(dashboard_queries())
    service = [q for q in queries if q[0] == "crispml-service.json"]
    assert len(service) >= 18
    for dashboard, title, promql in queries:
        names = metric_names(promql)
        assert names and names <= emitted, (dashboard, title, promql, names - emitted)
    read = {name for _d, _t, promql in service for name in metric_names(promql)}
    assert {"crispml_scores_total", "crispml_model_info", "crispml_job_queue_depth",
            "crispml_verification_kpi", "crispml_http_request_duration_seconds_bucket"} <= read  # fmt: skip


def test_the_provisioning_names_the_dashboards_datasource_and_folder() -> None:
    (source,) = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    service = json.loads((GRAFANA / "dashboards" / "crispml-service.json").read_text())
    panels = [p for p in service["panels"] if p["type"] != "row"]
    assert source["type"] == "prometheus" and all(p["datasource"]["uid"] == source["uid"] for p in panels)
    (provider,) = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "crispml.yaml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"].endswith("dashboards/crispml")


def readyz_by_worker(folder: Path) -> dict[int, float]:
    """GET /readyz requests each worker process recorded in its own file, by its pid."""
    counts: dict[int, float] = {}
    for path in folder.glob("histogram_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        for metric in MultiProcessCollector.merge([str(path)], accumulate=True):
            for sample in metric.samples:
                if sample.name == REQUEST_COUNT and sample.labels["route"] == "/readyz":
                    counts[pid] = counts.get(pid, 0) + sample.value
    return counts


def test_either_worker_answers_the_requests_of_both(lifecycle: Lifecycle) -> None:
    url, sent = lifecycle.server.url, 0
    deadline = time.monotonic() + 60
    # New connections, several at a time, until both workers served some (the kernel picks the acceptor).
    with ThreadPoolExecutor(8) as pool:
        while len(readyz_by_worker(lifecycle.metrics_folder)) < 2:
            assert time.monotonic() < deadline, f"one worker served all {sent} requests"
            answers = list(pool.map(lambda _: httpx.get(f"{url}/readyz", timeout=30).status_code, range(16)))
            assert answers == [200] * 16
            sent += 16
    # Each worker folds its histograms into its file every second (crispml.observability.tally).
    wait_for(lambda: sum(readyz_by_worker(lifecycle.metrics_folder).values()) == sent, timeout=10, poll=0.2)
    counts = readyz_by_worker(lifecycle.metrics_folder)
    assert len(counts) == 2 and all(counts.values()) and sum(counts.values()) == sent
    for _ in range(6):  # whichever worker answers the scrape, it answers both workers' counts
        samples = scrape(url, connection="close")
        assert value(samples, REQUEST_COUNT, route="/readyz", method="GET", status="200") == sent


def test_one_worker_answers_from_the_default_registry(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path))) as http:
        before = value(scrape_text(http.get("/metrics").text), REQUEST_COUNT, route="/healthz")
        assert http.get("/healthz").status_code == 200
        samples = scrape_text(http.get("/metrics").text)
    assert value(samples, REQUEST_COUNT, route="/healthz", method="GET", status="200") == before + 1
    assert value(samples, "process_resident_memory_bytes") > 0  # the default registry's process collector


def test_with_metrics_off_the_route_says_so(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path, metrics_enabled=False))) as http:
        answer = http.get("/metrics")
    assert answer.status_code == 404 and "CRISPML_METRICS_ENABLED" in answer.json()["detail"]


def test_metric_names_of_promql() -> None:
    promql = 'histogram_quantile(0.95, sum by (route, le) (rate(a_bucket{route=~"x(y)"}[$__rate_interval])))'
    assert metric_names(promql) == {"a_bucket"}
    assert metric_names("sum by (state) (b) / on (state) c offset 5m") == {"b", "c"}
    assert metric_names("up") == {"up"}
