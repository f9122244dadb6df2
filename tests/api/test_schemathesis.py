"""Property-based requests generated from the OpenAPI schema: no request may produce a 500, and every
error answers problem+json (OIP v2 routes: `{"error": ...}`).

`make test` runs them derandomized (the same requests every run, so the suite does not flip);
`make fuzz` sets CRISPML_FUZZ to a number of examples per operation and runs them randomized, keeping
what it finds in Hypothesis' example database. A case found that way becomes an explicit test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.database import DirectoryBasedExampleDatabase
from schemathesis.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from crispml.services.synthesis import write_synthetic
from tests.api.conftest import Server

CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ_EXAMPLES = int(os.environ.get("CRISPML_FUZZ", "0"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES or 15,
    derandomize=not FUZZ_EXAMPLES,
    database=DirectoryBasedExampleDatabase(".hypothesis/examples") if FUZZ_EXAMPLES else None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A server over a store that already holds the reference chain, so generated requests reach deep."""
    home = tmp_path_factory.mktemp("fuzz") / "home"
    reference = home / "data" / "creditcard.csv"
    write_synthetic(reference, 2_400)
    server = Server(home, None, {"CRISPML_REFERENCE_SOURCE": str(reference)})
    server.start()
    try:
        for route, params in (("repDataIngest", {"percentData": 1}), ("repDataPrepare", {}), ("repDataCurate", {}),
                              ("repModelTrain", {}), ("repModelPersist", {})):  # fmt: skip
            httpx.get(f"{server.url}/crispml/{route}", params=params, timeout=120).raise_for_status()
        yield schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    finally:
        server.stop()


def test_no_request_produces_a_server_error(api_schema: Any) -> None:
    failures: list[str] = []
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @FUZZ
        def exercise(case: Any) -> None:
            response = case.call(timeout=120)
            try:
                # The answer is one the schema documents: its status, content type and body.
                case.validate_response(response, checks=CONFORMANCE)
            except AssertionError as exc:  # schemathesis' failures are AssertionErrors
                failures.append(f"{case.method} {case.formatted_path}: {str(exc)[:600]}")
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}")
            elif response.status_code >= 400 and case.path.startswith("/v2"):
                if list(response.json()) != ["error"]:
                    failures.append(f"{case.method} {case.formatted_path}: not an OIP error: {response.text[:300]}")
            elif response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                problem = response.json()
                is_problem = str(content_type[0]).startswith("application/problem+json")
                if not is_problem or not {"type", "title", "status", "detail"} <= set(problem):
                    failures.append(f"{case.method} {case.formatted_path}: not problem+json: {response.text[:300]}")

        exercise()
    assert failures == []


def test_schema_lists_every_method(api_schema: Any) -> None:
    paths = set(api_schema.raw_schema["paths"])
    expected = {
        "/api/v1/datasets",
        "/api/v1/models/{name}/versions",
        "/api/v1/models/{name}/score",
        "/api/v1/labels",
        "/api/v1/reports/verification",
        "/api/v1/jobs/{job_id}",
        "/crispml/repModelTrain",
    }
    assert expected <= paths
