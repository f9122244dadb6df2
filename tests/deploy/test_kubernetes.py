"""deploy/k8s: every overlay renders with kustomize and every object passes the Kubernetes schemas; the
probes name routes the app has, the crispml commands exist, each overlay says its environment."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from crispml.api.app import create_app
from crispml.settings import Settings
from tests.deploy.commands import ROOT, calls_in_container, check_call

K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "qa", "prod")
# The oldest Kubernetes these manifests promise to fit (HPA autoscaling/v2, PDB policy/v1), and the newest known.
VERSIONS = ("1.28", kubernetes_validate.latest_version())
KUBECTL = shutil.which("kubectl")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Each overlay's objects as `kubectl kustomize` renders them."""
    if KUBECTL is None:
        pytest.skip("kubectl is not installed")
    found = {}
    for overlay in OVERLAYS:
        done = subprocess.run([KUBECTL, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True,
                              text=True, timeout=60)  # fmt: skip
        assert done.returncode == 0, done.stderr
        found[overlay] = [o for o in yaml.safe_load_all(done.stdout) if o]
    return found


@pytest.fixture(scope="module")
def standalone() -> list[dict[str, Any]]:
    """Manifests applied by hand, once (the first admin user)."""
    return [o for path in sorted((K8S / "jobs").glob("*.yaml")) for o in yaml.safe_load_all(path.read_text()) if o]


def _by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def _pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"]) for o in objects
            if o["kind"] in ("Deployment", "Job")]  # fmt: skip


def test_every_rendered_object_passes_the_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], standalone: list[dict[str, Any]]
) -> None:
    for overlay, objects in [*rendered.items(), ("jobs", standalone)]:
        for obj in objects:
            for version in VERSIONS:
                try:
                    kubernetes_validate.validate(obj, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    pytest.fail(f"{overlay}: {obj['kind']}/{obj['metadata']['name']} on {version}: {exc.message}")


def test_each_overlay_has_the_api_its_scaling_and_its_migration_job(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for overlay, objects in rendered.items():
        kinds = {o["kind"] for o in objects}
        assert {"Deployment", "Service", "HorizontalPodAutoscaler", "Job", "ConfigMap", "PersistentVolumeClaim",
                "PodDisruptionBudget", "Namespace"} <= kinds, (overlay, kinds)  # fmt: skip
        assert {o["metadata"].get("namespace") for o in objects if o["kind"] != "Namespace"} == {f"crispml-{overlay}"}
        (config,) = _by_kind(objects, "ConfigMap")
        assert config["data"]["CRISPML_ENVIRONMENT"] == overlay
        assert config["data"]["CRISPML_MIGRATE_ON_START"] == "0"  # the Job migrates, not every pod
        (hpa,) = _by_kind(objects, "HorizontalPodAutoscaler")
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (1, 3)
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
        assert {d["metadata"]["name"] for d in _by_kind(objects, "Deployment")} == {"crispml-api", "crispml-worker"}
        assert config["data"]["CRISPML_JOB_RUNNER"] == "workers"  # the API pods only queue train jobs
        (claim,) = _by_kind(objects, "PersistentVolumeClaim")
        assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        for where, pod in _pod_specs(objects):
            assert pod["securityContext"]["runAsNonRoot"] is True, where
            for container in pod["containers"]:
                assert container["image"] != "crispml", f"{overlay} {where}: the overlay names no registry and tag"
                assert {"requests", "limits"} <= container["resources"].keys(), where
                assert container["envFrom"] == [{"configMapRef": {"name": "crispml-config"}}], where


def test_probes_name_routes_the_app_has(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    routes = set(create_app(Settings(home=tmp_path)).openapi()["paths"])
    for objects in rendered.values():
        (deployment,) = [d for d in _by_kind(objects, "Deployment") if d["metadata"]["name"] == "crispml-api"]
        (api,) = deployment["spec"]["template"]["spec"]["containers"]
        assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
        paths = {api[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe", "startupProbe")}
        assert paths <= routes, paths - routes
        port = api["livenessProbe"]["httpGet"]["port"]
        assert port in {p["name"] for p in api["ports"]}
        assert f"--port {api['ports'][0]['containerPort']}" in " ".join(api["args"])


def test_every_crispml_command_the_manifests_run_exists(
    rendered: dict[str, list[dict[str, Any]]], standalone: list[dict[str, Any]]
) -> None:
    seen = set()
    for overlay, objects in [*rendered.items(), ("jobs", standalone)]:
        for where, pod in _pod_specs(objects):
            for container in [*pod.get("initContainers", []), *pod["containers"]]:
                calls = calls_in_container(container)
                assert calls, f"{overlay} {where}: {container['name']} runs no crispml command"
                for call in calls:
                    check_call(call, f"{overlay} {where}")
                    seen.add(" ".join(call[:2]))
    assert {"serve --host", "db upgrade", "users create", "worker --concurrency"} <= seen
