"""A server reads the models its aliases name before it takes requests, and /readyz says what it read."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from crispml.container import Container
from tests.api.conftest import Server
from tests.conftest import FAST_RF
from tests.steps.test_fast_path import later_rows


def test_aliased_models_are_read_before_the_server_listens_and_a_broken_one_is_named(
    trained: Container, make_server: Callable[..., Server]
) -> None:
    curated = trained.lifecycle.get_model("fraud@champion").dataset_id
    challenger = trained.train(curated, algorithm="rf", frames="1-6", name="fraud", params=FAST_RF)
    trained.persist(challenger.ref, alias="challenger")
    assert challenger.twin_sha256 is not None
    twin = trained.store.artifacts.path("models", challenger.twin_sha256, ".onnx")
    twin.write_bytes(twin.read_bytes()[:-1] + b"x")
    rows = later_rows(trained, 2).to_dict("records")

    server = make_server().start()
    ready = httpx.get(f"{server.url}/readyz").json()
    assert ready["status"] == "ready"
    warmed = ready["checks"]["models"]["warmed"]
    assert set(warmed) == {"fraud@champion", "fraud@challenger"}
    assert warmed["fraud@champion"].startswith("fraud/1 loaded in ")
    assert (
        warmed["fraud@challenger"].startswith("not loaded: IntegrityFailure")
        and "modified" in warmed["fraud@challenger"]
    )

    scored = httpx.post(f"{server.url}/api/v1/models/fraud/score", json={"records": rows}, timeout=60)
    assert scored.status_code == 200 and scored.json()["model"] == "fraud/1"
    refused = httpx.post(f"{server.url}/api/v1/models/fraud/score?alias=challenger", json={"records": rows}, timeout=60)
    assert refused.status_code == 500 and refused.json()["type"] == "/problems/integrity-failure"
    assert "modified" in refused.json()["detail"]


def test_no_warm_up_when_it_is_turned_off(trained: Container, make_server: Callable[..., Server]) -> None:
    server = make_server(CRISPML_WARM_UP_MODELS="0").start()
    assert httpx.get(f"{server.url}/readyz").json()["checks"]["models"] == {"ok": True, "warmed": {}}
