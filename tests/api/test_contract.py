"""Every declared method has its REST route, with the method's name and exactly its parameters; every
route documents its answers."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from crispml.api.app import create_app
from crispml.api.routes import scoring
from crispml.client import AsyncClient, Client
from crispml.contract import METHODS
from crispml.contract.requests import ReportPlotRequest, VerifyPlotRequest
from crispml.contract.scoring import ScoreBatchAnswer, ScoreBatchPage
from crispml.settings import Settings


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # Building the app connects nothing (that happens at start-up): its schema is there at once.
    home: Path = tmp_path_factory.mktemp("contract")
    schema: dict[str, Any] = create_app(Settings(home=home)).openapi()
    return schema


def operations(openapi: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for methods in openapi["paths"].values() for op in methods.values()}


def resolve(openapi: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = openapi["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def route_fields(openapi: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    """Names of the route's parameters (path, query, header) and of its JSON body's fields."""
    names = {p["name"].lower().replace("-", "_") for p in operation.get("parameters", [])}
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        names |= set(resolve(openapi, body["schema"]).get("properties", {}))
    return names


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_has_its_route_with_its_declared_parameters(openapi: dict[str, Any], method: str) -> None:
    spec = METHODS[method]
    operation = operations(openapi).get(method)
    assert operation is not None, f"no route has operationId {method!r}"
    assert route_fields(openapi, operation) == set(spec.request.model_fields)
    assert operation["summary"] == spec.summary


@pytest.mark.parametrize(("operation_id", "request_model"),
                         [("report_plot", ReportPlotRequest), ("verify_plot", VerifyPlotRequest)])  # fmt: skip
def test_the_picture_routes_take_their_declared_parameters(
    openapi: dict[str, Any], operation_id: str, request_model: type[BaseModel]
) -> None:
    # A picture is its method's answer drawn: the method's parameters, the picture's name and its format.
    assert route_fields(openapi, operations(openapi)[operation_id]) == set(request_model.model_fields)
    for client in (Client, AsyncClient):
        assert set(inspect.signature(getattr(client, operation_id)).parameters) - {"self"} == set(
            request_model.model_fields
        )


def test_operation_ids_are_unique_and_short(openapi: dict[str, Any]) -> None:
    ids = [op["operationId"] for methods in openapi["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))
    assert all("_api_v1_" not in i and len(i) <= 24 for i in ids), ids


def test_every_answer_is_documented(openapi: dict[str, Any]) -> None:
    undocumented = []
    for path, methods in openapi["paths"].items():
        for verb, op in methods.items():
            for status, response in op["responses"].items():
                if status == "204":
                    continue
                content = response.get("content") or {}
                schemas = [resolve(openapi, c.get("schema", {})) for c in content.values()]
                if not schemas or any(s == {} for s in schemas):
                    undocumented.append(f"{verb} {path} {status}")
                problem = status.startswith("4") and not path.startswith("/v2")
                if problem and list(content) != ["application/problem+json"]:
                    undocumented.append(f"{verb} {path} {status}: not problem+json")
    assert undocumented == []


def test_the_hot_score_route_runs_no_answer_validation() -> None:
    score = next(r for r in scoring.router.routes if getattr(r, "name", "") == "score")
    assert getattr(score, "response_model", None) is None and getattr(score, "response_field", None) is None


def test_plain_score_answers_have_their_models_keys() -> None:
    # The hot path answers dump(); the OpenAPI documents the model: the two name the same keys.
    from datetime import datetime

    from crispml.domain import ScoreBatch, ScoredRecords

    class Result:
        # As SQLite hands it back: the UTC time without its zone.
        batch = ScoreBatch("sb-1", "mv-1", "fraud/1", None, "records", 2, datetime(2026, 1, 1, 12))
        records = ScoredRecords(["a", "b"], [1, None], [0.1, 0.9], [0, 1])
        replayed = False
        imputed = ("V1",)

    answer = ScoreBatchAnswer.dump(Result())
    assert list(answer) == list(ScoreBatchAnswer.model_fields) and answer["flagged"] == 1
    assert answer["created_at"] == "2026-01-01T12:00:00+00:00"
    assert ScoreBatchAnswer.model_validate(answer).model_dump(mode="json") == answer
    page = ScoreBatchPage.dump(Result(), limit=1, offset=0)
    assert list(page) == list(ScoreBatchPage.model_fields) and page["next"] == 1 and "replayed" not in page


def test_the_contract_imports_only_pydantic_and_the_domain() -> None:
    import ast
    import sys

    import crispml.contract

    allowed = {"pydantic", "pydantic_core", "crispml.domain", "crispml.errors", "crispml.contract", "__future__"}
    imported = set()
    for source in Path(crispml.contract.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
    outside = {m for m in imported if m.split(".")[0] not in sys.stdlib_module_names}
    assert outside and {m for m in outside if not any(m == a or m.startswith(f"{a}.") for a in allowed)} == set()
