"""A challenger over HTTP: in the shadow the answers do not change and its scores reach the ledger after
them, `verify --compare` through REST, the Python client and the CLI; as a canary on the hot path it
answers the same records every time, its batches marked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import crispml
from crispml.cli import app
from crispml.client import Client
from crispml.services.synthesis import write_synthetic
from tests.api.conftest import Server
from tests.conftest import wait_for
from tests.services.test_challengers import TINY, champion_and_challenger
from tests.steps.test_fast_path import later_rows

TIMING = ("batch_id", "created_at")
"""What differs between two answers to the same request: the new batch's id and its time."""


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[dict[str, Any]], list[int]]]:
    """A store with fraud/1 as champion and fraud/2 as challenger; 12 records to score and their labels."""
    home = tmp_path_factory.mktemp("challengers-http")
    source = home / "creditcard.csv"
    write_synthetic(source, 6_000)
    with crispml.connect(home=home / "home", user="tester") as cml:
        champion_and_challenger(cml, source, {**TINY, "max_depth": 2})
        records = later_rows(cml, 12)
        raw = cml.lifecycle.dataset_frame("ccf").set_index("record_id")
        labels = raw.loc[records["record_id"], "Class"].astype(int).tolist()
    yield home / "home", records.to_dict("records"), labels


def answers(server: Server, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One request per record (the hot path once the champion is in memory)."""
    url = f"{server.url}/api/v1/models/fraud/score"
    with httpx.Client(timeout=60) as http:
        return [http.post(url, json={"records": [record]}).json() for record in records]


def untimed(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in answer.items() if k not in TIMING} for answer in found]


def shadow_scores(server: Server) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith('crispml_shadow_scores_total{model="fraud/2"}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_shadow_challenger_never_changes_an_answer(
    store: tuple[Path, list[dict[str, Any]], list[int]], tmp_path: Path
) -> None:
    home, records, labels = store
    plain = Server(home, None).start()
    try:
        without = untimed(answers(plain, records))
    finally:
        plain.stop()
    shadowed = Server(home, None, {"CRISPML_SHADOW_SHARE": "1"}).start()
    try:
        with_shadow_timed = answers(shadowed, records)
        with_shadow = untimed(with_shadow_timed)
        assert with_shadow == without
        assert {a["model"] for a in with_shadow} == {"fraud/1"}
        wait_for(lambda: shadow_scores(shadowed) == len(records), timeout=30)

        with Client(shadowed.url, timeout=60) as api:
            events = api.audit(action="score.batch", limit=1000)["items"]
            shadows = [e["after"] for e in events if e["after"].get("role") == "shadow"]
            # The requests a window gathered share a shadow batch; each answered batch is in exactly one.
            covered = [batch for shadow in shadows for batch in shadow["shadow_of"]]
            assert sorted(covered) == sorted(a["batch_id"] for a in with_shadow_timed)
            assert sum(shadow["rows"] for shadow in shadows) == len(records)
            stored = api.batch(shadows[0]["batch"])
            assert (stored["model"], stored["role"]) == ("fraud/2", "shadow")
            assert stored["shadow_of"] == shadows[0]["shadow_of"]
            assert stored["rows"] == len(stored["shadow_of"])  # one record per request
            api.label(labels=[{"record_id": r["record_id"], "label": y} for r, y in zip(records, labels, strict=True)])
            verified = api.verify("fraud", compare="champion,challenger")
            # Both servers' answers count for the champion; the shadow scores only in the comparison.
            assert {row["model"] for row in verified["rows"]} == {"fraud/1"}
            assert next(r for r in verified["rows"] if r["frame"] == "all")["scored"] == len(records)
            assert verified["comparison"]["records"] == len(records)
            assert verified["comparison"]["positives"] == sum(labels)

        cli = CliRunner().invoke(
            app, ["verify", "fraud", "--compare", "champion,challenger", "--remote", shadowed.url],
            env={"CRISPML_HOME": str(tmp_path / "unused")},
        )  # fmt: skip
        assert cli.exit_code == 0, cli.stdout
        assert f"challenger (fraud/2) against champion (fraud/1) on {len(records)} labelled records" in cli.stdout
        bad = httpx.get(f"{shadowed.url}/api/v1/reports/verification", params={"model": "fraud", "compare": "x"})
        assert bad.status_code == 422
    finally:
        shadowed.stop()


def test_a_canary_share_answers_on_the_hot_path_the_same_way_for_the_same_record(
    store: tuple[Path, list[dict[str, Any]], list[int]],
) -> None:
    home, records, _ = store
    server = Server(home, None, {"CRISPML_CANARY_SHARE": "0.5"}).start()
    try:
        first, second = answers(server, records), answers(server, records)
        assert [a["model"] for a in first] == [a["model"] for a in second]
        assert {a["model"] for a in first} == {"fraud/1", "fraud/2"}  # 12 records at 50 %: both answer
        with httpx.Client(base_url=server.url, timeout=60) as http:
            for answer in first + second:
                stored = http.get(f"/api/v1/score-batches/{answer['batch_id']}").json()
                assert stored["role"] == ("canary" if answer["model"] == "fraud/2" else None)
    finally:
        server.stop()
