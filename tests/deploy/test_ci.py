"""The CI/CD definitions: .gitlab-ci.yml passes GitLab's schema; the Tekton Tasks and Pipeline hang together;
every crispml command either runs exists with the options it is given."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.commands import ROOT, calls_in_container, calls_in_script, check_call

TEKTON = ROOT / "deploy" / "tekton"
_REFERENCE = re.compile(r"\$\((params|workspaces|results)\.([A-Za-z0-9_-]+)(?:\.path)?\)")


def check_jsonschema(schema: str, path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_gitlab_ci_passes_gitlab_schema_and_runs_crispml_commands_that_exist() -> None:
    path = ROOT / ".gitlab-ci.yml"
    check_jsonschema("vendor.gitlab-ci", path)
    pipeline = yaml.safe_load(path.read_text())
    assert pipeline["stages"] == ["test", "build", "deploy-dev", "qa-pipeline", "promote-prod"]
    jobs = {name: job for name, job in pipeline.items() if isinstance(job, dict) and "script" in job}
    assert {job["stage"] for job in jobs.values()} == set(pipeline["stages"])
    calls = [call for name, job in jobs.items() for line in job["script"] for call in calls_in_script(line)]
    for call in calls:
        check_call(call, ".gitlab-ci.yml")
    assert calls, "the smoke test runs the image's crispml"
    assert ["promote", "fraud@champion", "--to", "prod", "--remote", "$CRISPML_QA_URL", "--json"] in calls


def _tekton() -> dict[str, dict[str, Any]]:
    found = {}
    for path in sorted(TEKTON.glob("*.yaml")):
        for obj in yaml.safe_load_all(path.read_text()):
            assert obj["apiVersion"] == "tekton.dev/v1", path
            assert obj["kind"] in ("Task", "Pipeline"), path
            found[obj["metadata"]["name"]] = obj
    return found


def _names(items: list[dict[str, Any]] | None) -> set[str]:
    return {item["name"] for item in items or []}


def _references(value: Any) -> set[tuple[str, str]]:
    return set(_REFERENCE.findall(yaml.safe_dump(value)))


def test_tekton_pipeline_refers_to_the_tasks_shipped_with_the_params_and_workspaces_they_declare() -> None:
    objects = _tekton()
    tasks = {name: obj["spec"] for name, obj in objects.items() if obj["kind"] == "Task"}
    (pipeline,) = [obj["spec"] for obj in objects.values() if obj["kind"] == "Pipeline"]
    steps = {task["name"]: task for task in pipeline["tasks"]}
    assert {"test", "build-image", "deploy-dev"} <= steps.keys()
    for name, task in steps.items():
        ref = task["taskRef"]["name"]
        assert ref in tasks, f"pipeline task {name}: no Task {ref} under deploy/tekton"
        declared = tasks[ref]
        given = _names(task.get("params"))
        assert given <= _names(declared.get("params")), (name, given)
        required = {p["name"] for p in declared.get("params") or [] if "default" not in p}
        assert required <= given, f"pipeline task {name} leaves {required - given} unset"
        assert {w["name"] for w in task.get("workspaces") or []} == _names(declared.get("workspaces")), name
        assert {w["workspace"] for w in task.get("workspaces") or []} <= _names(pipeline.get("workspaces")), name
        assert set(task.get("runAfter") or []) <= steps.keys(), name
        for kind, ref_name in _references(task):
            assert kind == "params" and ref_name in _names(pipeline.get("params")), (name, kind, ref_name)
    assert steps["build-image"]["runAfter"] == ["test"] and steps["deploy-dev"]["runAfter"] == ["build-image"]


def test_tekton_tasks_use_what_they_declare_and_run_crispml_commands_that_exist() -> None:
    calls = 0
    for name, obj in _tekton().items():
        if obj["kind"] != "Task":
            continue
        spec = obj["spec"]
        declared = {"params": _names(spec.get("params")), "workspaces": _names(spec.get("workspaces")),
                    "results": _names(spec.get("results"))}  # fmt: skip
        for kind, ref_name in _references(spec):
            assert ref_name in declared[kind], f"Task {name} uses $({kind}.{ref_name}) it does not declare"
        for step in spec["steps"]:
            assert step["name"] and step["image"], name
            assert step.get("script") or step.get("command"), f"Task {name} step {step['name']} runs nothing"
            for call in calls_in_container(step):
                check_call(call, f"Task {name} step {step['name']}")
                calls += 1
    assert calls, "the deploy Task's smoke step runs the image's crispml"
