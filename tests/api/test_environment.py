"""A deployment's environment (CRISPML_ENVIRONMENT) over REST: `/readyz`, `/api/v1/me` (the console's
header), the `crispml_build_info` series of `/metrics`, and every audit event it writes."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from crispml.api.app import create_app
from crispml.settings import Settings


def test_a_qa_server_says_so_everywhere(tmp_path: Path) -> None:
    with TestClient(create_app(Settings(home=tmp_path, environment="qa"))) as http:
        assert http.get("/readyz").json()["environment"] == "qa"
        me = http.get("/api/v1/me").json()
        assert me["environment"] == "qa"
        labelled = http.put("/api/v1/labels", json={"labels": [{"record_id": "r-1", "label": 1}]})
        assert labelled.status_code == 200, labelled.text
        events = http.get("/api/v1/audit").json()["items"]
        assert [(e["action"], e["environment"]) for e in events] == [("labels.import", "qa")]
        assert http.get("/api/v1/audit/verification").json()["checked"] == 1
        families = {f.name: f for f in text_string_to_metric_families(http.get("/metrics").text)}
    (info,) = families["crispml_build_info"].samples
    assert info.labels == {"version": me["version"], "environment": "qa"} and info.value == 1


def test_every_service_dashboard_query_is_scoped_by_the_environment_variable() -> None:
    from tests.api.test_metrics import dashboard_queries

    queries = [(title, promql) for name, title, promql in dashboard_queries() if name == "crispml-service.json"]
    variables = [title for title, _promql in queries if title.startswith("variable ")]
    assert variables[0] == "variable environment" and ("variable environment", "crispml_build_info") in queries
    panels = [(title, promql) for title, promql in queries if not title.startswith("variable ")]
    assert panels and all('environment=~"$environment"' in promql for _title, promql in panels), panels
