"""The shared data pool: one store (SQLite or PostgreSQL) holding a tagged dataset, read by a dev, a QA
and a prod environment (each its own CRISPML_HOME) through their own GDPR filters, with the CLI, REST and
a pipeline file's ingest step; bad input is one clear error and writes nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

import crispml
from crispml.api.app import create_app
from crispml.settings import Settings
from tests.cli.conftest import run

SECRET = b"pool-pseudonym-secret"
DEV_FILTER = {"personal": "pseudonymize", "sensitive": "drop", "quasi": "generalize"}
QA_FILTER = {"personal": "drop"}
Env = dict[str, str | None]


def _people(path: Path, rows: int = 600) -> Path:
    random = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "customer": [f"C{n:05d}" for n in range(rows)],
            "email": [f"person{n}@example.org" for n in range(rows)],
            "age": random.integers(18, 90, rows),
            "income": random.normal(50_000, 12_000, rows).round(2),
            "V1": random.normal(size=rows),
            "Amount": random.exponential(80, rows).round(2),
            "Class": (random.random(rows) < 0.1).astype(int),
        }
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def pool(tmp_path: Path, database_url: str | None) -> Env:
    """A pool store holding `people/1`: its record ids from `customer`, four columns tagged."""
    env: Env = {"CRISPML_HOME": str(tmp_path / "pool"), "CRISPML_USER": "steward", "CRISPML_DATABASE_URL": database_url}
    tags = ["customer=personal", "email=personal", "age=quasi-identifier", "income=sensitive"]
    run(["ingest", str(_people(tmp_path / "people.csv")), "--name", "people", "--key", "customer", "--slices", "4",
         *[arg for tag in tags for arg in ("--tag", tag)], "--json"], env)  # fmt: skip
    return env


def _environment(tmp_path: Path, pool: Env, name: str, rules: dict[str, str] | None) -> Env:
    key = tmp_path / "pseudonym.key"
    key.write_bytes(SECRET)
    env: Env = {
        "CRISPML_HOME": str(tmp_path / name),
        "CRISPML_USER": f"{name}-user",
        "CRISPML_DATABASE_URL": None,
        "CRISPML_ENVIRONMENT": name,
        "CRISPML_POOL_HOME": pool["CRISPML_HOME"],
        "CRISPML_POOL_DATABASE_URL": pool["CRISPML_DATABASE_URL"],
        "CRISPML_PSEUDONYM_KEY_FILE": str(key),
    }
    if rules is not None:
        env["CRISPML_POOL_FILTER"] = json.dumps(rules)
    return env


def _rows(env: Env, ref: str) -> pd.DataFrame:
    with crispml.connect(home=env["CRISPML_HOME"], database_url=env["CRISPML_DATABASE_URL"]) as cml:
        return cml.lifecycle.dataset_frame(ref)


def _pseudonym(value: str) -> str:
    return hmac.new(SECRET, value.encode(), hashlib.sha256).hexdigest()


def test_each_environment_reads_the_pool_through_its_filter(tmp_path: Path, pool: Env) -> None:
    raw = _rows(pool, "people/1")
    dev = _environment(tmp_path, pool, "dev", DEV_FILTER)
    qa = _environment(tmp_path, pool, "qa", QA_FILTER)
    prod = _environment(tmp_path, pool, "prod", None)

    got = run(["ingest", "--from-pool", "people@1", "--json"], dev).json
    assert (got["name"], got["version"], got["stage"], got["frames"]) == ("people", 1, "raw", 4)
    rows = _rows(dev, "people/1")
    assert "income" not in rows.columns  # sensitive: dropped
    assert "income" not in {s["column"] for s in got["report"]["stats"]} and "income" not in got["columns"]
    assert rows["email"].tolist()[:3] == [_pseudonym(e) for e in raw["email"].tolist()[:3]]  # pseudonymized
    assert not set(rows["email"]) & set(raw["email"]) and not set(rows["record_id"]) & set(raw["record_id"])
    assert set(rows["record_id"]) <= {_pseudonym(c) for c in raw["record_id"]}  # the key column's ids too
    # Quasi-identifiers generalized until every age group holds k=5 rows, at most 5% of the rows suppressed.
    assert rows.groupby("age").size().min() >= 5 and len(raw) * 0.95 <= len(rows) < len(raw)
    again = run(["ingest", "--from-pool", "people/1", "--json"], dev).json
    assert again["sha256"] == got["sha256"]  # pseudonyms are stable: the same rows, the same file

    run(["ingest", "--from-pool", "people", "--name", "people_qa", "--json"], qa)
    qa_rows = _rows(qa, "people_qa/1")
    assert "email" not in qa_rows.columns and "income" in qa_rows.columns
    assert set(qa_rows["record_id"]) == {_pseudonym(c) for c in raw["record_id"]}  # same key, same ids as dev

    unknown = run(["ingest", "--from-pool", "people/2"], prod, expect=3)  # the pool holds version 1 only
    assert "has no dataset 'people/2'" in unknown.stderr and run(["datasets", "--json"], prod).json == []
    run(["ingest", "--from-pool", "people/1", "--json"], prod)
    pd.testing.assert_frame_equal(_rows(prod, "people/1"), raw)  # no filter: as the pool holds it

    (*_, source) = run(["lineage", "people/1", "--json"], dev).json
    assert source["kind"] == "source" and source["label"] == "pool people/1"
    assert source["detail"]["pool"]["sha256"] == source["id"] == pool_sha(pool)
    assert source["detail"]["pool_filter"]["rules"] == {"personal": "pseudonymize", "sensitive": "drop",
                                                        "quasi-identifier": "generalize"}  # fmt: skip
    assert source["detail"]["pool_filter"]["columns"] == {"customer": "pseudonymize", "email": "pseudonymize",
                                                          "age": "generalize", "income": "drop",
                                                          "record_id": "pseudonymize"}  # fmt: skip
    assert source["detail"]["pool_filter"]["anonymization"]["k_achieved"] >= 5
    (event, *_) = run(["audit", "list", "--action", "dataset.ingest", "--json"], dev).json["items"]
    assert event["environment"] == "dev" and event["after"]["pool"]["name"] == "people"
    assert event["after"]["pool_filter"]["rules"]["personal"] == "pseudonymize"


def pool_sha(pool: Env) -> str:
    return str(run(["datasets", "--json"], pool).json[0]["sha256"])


@pytest.mark.parametrize(
    ("change", "args", "code", "named"),
    [
        ({}, ["--from-pool", "nobody/1"], 3, "nobody"),
        ({"CRISPML_POOL_FILTER": '{"personal": "shred"}'}, ["--from-pool", "people/1"], 2, "unknown action 'shred'"),
        ({"CRISPML_POOL_FILTER": '{"secret": "drop"}'}, ["--from-pool", "people/1"], 2, "unknown tag 'secret'"),
        ({"CRISPML_POOL_FILTER": "drop personal"}, ["--from-pool", "people/1"], 2, "CRISPML_POOL_FILTER: not JSON"),
        ({"CRISPML_POOL_HOME": None}, ["--from-pool", "people/1"], 2, "no data pool is configured"),
        ({"CRISPML_PSEUDONYM_KEY_FILE": None}, ["--from-pool", "people/1"], 2, "no pseudonym key"),
        ({}, ["people.csv", "--from-pool", "people/1"], 2, "reads a pool dataset alone"),
    ],
    ids=["unknown-dataset", "unknown-action", "unknown-tag", "not-json", "no-pool", "no-key", "pool-and-file"],
)
@pytest.mark.parametrize("backend", ["sqlite"])  # the pool's own store is tested on both above
def test_bad_input_is_one_clear_error_and_writes_nothing(
    tmp_path: Path, pool: Env, change: Env, args: list[str], code: int, named: str
) -> None:
    dev = _environment(tmp_path, pool, "dev", DEV_FILTER)
    failed = run(["ingest", *args], {**dev, **change}, expect=code)
    assert named in failed.stderr
    assert run(["datasets", "--json"], dev).json == []
    assert run(["audit", "list", "--json"], dev).json["total"] == 0
    assert not list((tmp_path / "dev" / "artifacts").rglob("*.parquet"))


@pytest.mark.parametrize("backend", ["sqlite"])  # the HTTP adapter acts alike over either pool store
def test_rest_reads_the_pool(tmp_path: Path, pool: Env) -> None:
    key = tmp_path / "pseudonym.key"
    key.write_bytes(SECRET)
    settings = Settings(home=tmp_path / "qa", environment="qa", pool_home=Path(str(pool["CRISPML_HOME"])),
                        pool_filter=json.dumps(QA_FILTER), pseudonym_key_file=key)  # fmt: skip
    with TestClient(create_app(settings)) as http:
        answer = http.post("/api/v1/datasets", params={"wait": "true"}, json={"source": {"pool": "people@1"}})
        assert answer.status_code == 200, answer.text
        dataset = answer.json()["result"]
        assert dataset["source"] == "pool people/1" and "email" not in dataset["columns"]
        refused = http.post("/api/v1/datasets", json={"source": {"pool": "people/1", "path": "x.csv"}})
        assert refused.status_code == 422 and "alone" in refused.json()["detail"]
        unknown = http.post("/api/v1/datasets", params={"wait": "true"}, json={"source": {"pool": "nobody"}})
        assert unknown.json()["status"] == "failed" and "has no dataset 'nobody'" in unknown.json()["error"]["detail"]
        assert http.get("/api/v1/datasets").json()["total"] == 1
    bad = settings.model_copy(update={"pool_filter": '{"personal": "shred"}'})
    with TestClient(create_app(bad)) as http:
        refused = http.post("/api/v1/datasets", json={"source": {"pool": "people/1"}})
        assert refused.status_code == 422 and refused.json()["field"] == "CRISPML_POOL_FILTER"


PIPELINE = """
version: 1
name: pool-fraud
ingest: {source: {pool: "people@1"}, name: people}
curate: {algorithm: rf, frames: 1-3}
train: {name: fraud, algorithm: rf, frames: 1-3, params: {n_estimators: 5}}
persist: {alias: champion}
"""


@pytest.mark.parametrize("backend", ["sqlite"])  # the pipeline reads the pool as `ingest --from-pool` does
def test_a_pipeline_file_starts_from_a_pool_dataset(tmp_path: Path, pool: Env) -> None:
    qa = _environment(tmp_path, pool, "qa", QA_FILTER)
    file = tmp_path / "pool.yaml"
    file.write_text(PIPELINE)
    steps = run(["pipeline", "run", str(file), "--json"], qa).json["steps"]
    raw = run(["lineage", steps["ingest"]["dataset"], "--json"], qa).json
    assert raw[-1]["label"] == "pool people/1" and raw[-1]["detail"]["pool_filter"]["rules"] == QA_FILTER
    chain = run(["lineage", steps["persist"]["model"], "--json"], qa).json
    assert chain[0]["kind"] == "model" and chain[-1]["detail"]["pool"]["name"] == "people"
