"""Dockerfile and compose.yaml: the image's command and health check name a command and a route that exist;
compose passes the Compose specification and wires crispml, PostgreSQL, Prometheus, Grafana and InfluxDB."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from crispml.api.app import create_app
from crispml.settings import Settings
from tests.deploy.commands import ROOT, calls_in_script, check_call
from tests.deploy.test_ci import check_jsonschema


def _instruction(dockerfile: str, name: str) -> str:
    (found,) = re.findall(rf"^{name}\s+((?:[^\n]*\\\n)*[^\n]*)", dockerfile, flags=re.MULTILINE)
    return found.replace("\\\n", " ")


def test_the_image_runs_crispml_serve_as_a_user_and_checks_a_route_that_exists(tmp_path: Path) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=" in dockerfile
    assert dockerfile.count("\nFROM ${BASE_IMAGE} AS ") == 2  # builder and runtime
    entrypoint = json.loads(_instruction(dockerfile, "ENTRYPOINT"))
    command = json.loads(_instruction(dockerfile, "CMD"))
    assert entrypoint == ["crispml"] and command[:3] == ["serve", "--host", "0.0.0.0"]
    check_call(command, "Dockerfile CMD")
    assert _instruction(dockerfile, "USER").split(":")[0] not in ("0", "root")
    healthcheck = _instruction(dockerfile, "HEALTHCHECK")
    (url,) = re.findall(r"http://127\.0\.0\.1:(\d+)(/\w+)", healthcheck)
    assert url[0] == command[command.index("--port") + 1]
    assert url[1] in create_app(Settings(home=tmp_path)).openapi()["paths"]
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in ignored and {"!src/", "!wheelhouse/", "!pyproject.toml"} <= set(ignored)


def test_compose_wires_the_stack_and_runs_crispml_commands_that_exist() -> None:
    path = ROOT / "compose.yaml"
    check_jsonschema("vendor.compose-spec", path)
    services = yaml.safe_load(path.read_text())["services"]
    expected = {"crispml", "crispml-worker", "crispml-init", "postgres", "prometheus", "grafana", "influxdb"}
    assert expected <= services.keys()
    check_call(services["crispml"]["command"], "compose.yaml crispml")
    check_call(services["crispml-worker"]["command"], "compose.yaml crispml-worker")
    assert services["crispml"]["environment"]["CRISPML_JOB_RUNNER"] == "workers"  # the API only queues train jobs
    init = services["crispml-init"]
    (script,) = [v.split(":")[0] for v in init["volumes"] if v.startswith("./")]
    calls = calls_in_script((ROOT / script).read_text())
    for call in calls:
        check_call(call, script)
    assert {" ".join(call[:2]) for call in calls} >= {"db upgrade", "users create", "users list"}
    # Every file or folder compose mounts from here exists (Grafana's arrive from the dashboards' own branch).
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./deploy/grafana") and not (ROOT / "deploy" / "grafana").exists():
                continue
            if source.startswith("./"):
                assert (ROOT / source).exists(), source
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    port = services["crispml"]["command"][services["crispml"]["command"].index("--port") + 1]
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == [f"crispml:{port}"]
