"""GET /api/v1/models/{name}/monitoring, the Python client and `crispml monitor` (local and --remote) on one
real server: the same drift, flagged the same way; records scored over HTTP (one at a time too) are kept
in the server's input log and monitored `since`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pandas as pd
import pytest

import crispml
from crispml.client import Client
from crispml.services.synthesis import write_synthetic
from crispml.steps.synthetic import Drift
from tests.api.conftest import Server
from tests.cli.conftest import run
from tests.conftest import FAST_RF, crispml_source

ROWS = 4_800


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("monitoring-routes")
    csv = write_synthetic(folder / "drifted.csv", ROWS, seed=7, drift=Drift(from_frame=7, shift={"V3": 1.5, "V11": -2}))
    home = folder / "home"
    with crispml.connect(home=home, user="trainer") as cml:
        raw = cml.ingest(crispml_source(csv), name="ccf")
        curated = cml.curate(cml.prepare(raw.id).id, algorithm="rf", frames="1-6")
        model = cml.train(curated.id, algorithm="rf", frames="1-6", weight=10, name="fraud", params=FAST_RF)
        cml.persist(model.ref, alias="champion")
    return home, pd.read_csv(csv)


@pytest.fixture(scope="module")
def api(drifted: tuple[Path, pd.DataFrame]) -> Iterator[tuple[Server, Client]]:
    server = Server(drifted[0], None).start()
    try:
        with Client(server.url, timeout=120) as client:
            yield server, client
    finally:
        server.stop()


def test_rest_client_and_cli_flag_the_same_shifted_features(
    api: tuple[Server, Client], drifted: tuple[Path, pd.DataFrame]
) -> None:
    server, client = api
    answer = client.monitor("fraud", alias="champion", frames="7-12")
    assert sorted(answer["alarms"]) == ["V11", "V3"]
    assert answer["model_version"] == "fraud/1" and answer["levels"]["psi_alarm"] == 0.25
    env = {"CRISPML_HOME": str(drifted[0]), "CRISPML_USER": "cli"}
    remote = run(["monitor", "fraud@champion", "--frames", "7-12", "--json", "--remote", server.url], env).json
    local = run(["monitor", "fraud@champion", "--frames", "7-12", "--json"], env).json
    assert remote["rows"] == local["rows"] == answer["rows"]
    table = run(["monitor", "fraud@champion", "--frames", "7-12"], env).stdout
    assert "alarm: V3, V11; warning: none" in table
    exposed = httpx.get(f"{server.url}/metrics", timeout=30).text
    assert 'crispml_drift_level{feature="V11",model="fraud",version="1"} 2.0' in exposed


def test_records_scored_over_http_are_monitored_since(
    api: tuple[Server, Client], drifted: tuple[Path, pd.DataFrame]
) -> None:
    _, client = api
    late = drifted[1].iloc[ROWS - 600 :].drop(columns=["Class"]).to_dict(orient="records")
    client.score("fraud", records=late[:500])
    for record in late[500:]:  # one record at a time: the hot path keeps its inputs too
        client.score("fraud", records=[record])
    answer = client.monitor("fraud", alias="champion", since="2h")
    rows = {r["feature"]: r for r in answer["rows"] if r["period"] == "all"}
    assert rows["V3"]["rows"] == 600 and sorted(answer["alarms"]) == ["V11", "V3"]


def test_bad_requests_are_problems_naming_the_cause(api: tuple[Server, Client]) -> None:
    server, _ = api
    missing = httpx.get(f"{server.url}/api/v1/models/nobody/monitoring", timeout=30)
    assert missing.status_code == 404
    bad = httpx.get(f"{server.url}/api/v1/models/fraud/monitoring", params={"since": "soon"}, timeout=30)
    assert bad.status_code == 422 and "soon" in bad.json()["detail"]
