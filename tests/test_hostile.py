"""THE table of hostile requests: each is sent over REST (raw httpx), the Python client and the CLI
(`--remote`), and each must end in its clear error (status, error class, exit code, a message naming
the problem) with nothing changed: the counts of datasets, models, batches, scores and labels, and the
files under the artifact and upload folders, are the same before and after.

One real server (SQLite) serves the whole table; it holds a raw dataset `ccf` (12 frames), a model
`fraud/1` with the champion alias, a score batch and labels, so a refused request has something to
break. Cases that need their own server (time limits, long-polls) or a local store (tampered files)
follow the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import re
import sqlite3
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

import crispml
from crispml.cli import app
from crispml.client import Client
from crispml.domain import SourceSpec
from crispml.errors import CrispmlError, Forbidden, IntegrityFailure, InvalidInput, NotFound, TooLarge
from crispml.services.synthesis import write_synthetic
from tests.api.conftest import Server, make_server
from tests.conftest import SMALL_ROWS

pytestmark = pytest.mark.early  # 123 cases, a server and the CLI: a minute in all

HUGE = "1-999999999999"
MAX_BODY = 2 * 1024 * 1024
MAX_SOURCE = 5 * 1024 * 1024
TABLES = ("datasets", "model_versions", "model_aliases", "score_batches", "scores", "labels")


@dataclass(frozen=True)
class World:
    """The running server and what the cases need to aim at it."""

    server: Server
    home: Path
    record: dict[str, Any]
    local: Path
    """A folder of the test's own files (uploaded by the client and the CLI)."""

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def data(self) -> Path:
        return self.home / "data"


def snapshot(world: World) -> dict[str, Any]:
    """What no refused request may change: row counts and the files of the artifact and upload folders."""
    with sqlite3.connect(f"file:{world.home / 'crispml.db'}?mode=ro", uri=True) as db:
        counts = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    files = sorted(str(p.relative_to(world.home)) for p in world.home.rglob("*")
                   if p.is_file() and ("artifacts" in p.parts or "uploads" in p.parts))  # fmt: skip
    return {**counts, "files": files}


Rest = Callable[[World], httpx.Response]
Call = Callable[[Client, World], Any]
Cli = Callable[[World], list[str]]


@dataclass(frozen=True)
class Case:
    name: str
    rest: Rest | None
    client: Call | None
    cli: Cli | None
    status: int
    error: type[CrispmlError]
    match: str
    """A regular expression the error's detail must match (it names the parameter, record or file)."""


def _with(record: dict[str, Any], **values: Any) -> list[dict[str, Any]]:
    return [{**record, **values}]


def _oip(record: dict[str, Any]) -> dict[str, Any]:
    def tensor(name: str, value: Any) -> dict[str, Any]:
        kind = "BYTES" if isinstance(value, str) else "FP64"
        return {"name": name, "shape": [1], "datatype": kind, "data": [value]}

    return {"inputs": [tensor(k, v) for k, v in record.items()]}


def _records_file(world: World, name: str, **values: Any) -> str:
    path = world.local / name
    pd.DataFrame(_with(world.record, **values)).to_csv(path, index=False)
    return str(path)


def _chunks(size: int) -> Iterator[bytes]:
    """A multipart upload of `size` bytes, sent chunked (no Content-Length)."""
    yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\na,Class\n'
    sent = 0
    while sent < size:
        yield b"x" * 65536
        sent += 65536


def _post_json(world: World, path: str, body: Any) -> httpx.Response:
    return httpx.post(world.url + path, json=body, params={"wait": "true"}, timeout=120)


SCORE = "/api/v1/models/fraud/score"
TRAIN = "/api/v1/models/m/versions"

CASES = [
    # -- frame ranges: bounded by the dataset's frames before anything is built
    Case("report frames 1-999999999999",
         lambda w: httpx.get(f"{w.url}/api/v1/models/fraud/versions/1/report", params={"frames": HUGE}),
         lambda c, w: c.report("fraud", 1, frames=HUGE), lambda w: ["report", "fraud/1", "--frames", HUGE],
         422, InvalidInput, r"frame range '1-999999999999' is out of range: the dataset has frames 1\.\.12"),
    Case("train frames 1-999999999999",
         lambda w: _post_json(w, TRAIN, {"dataset": "ccf", "frames": HUGE, "params": {"n_estimators": 5}}),
         lambda c, w: c.train("ccf", name="m", frames=HUGE, params={"n_estimators": 5}),
         lambda w: ["train", "ccf", "--name", "m", "--frames", HUGE, "--param", "n_estimators=5"],
         422, InvalidInput, r"frame range '1-999999999999' is out of range"),
    Case("curate frames 1-999999999999",
         lambda w: _post_json(w, "/api/v1/datasets/ccf/curate", {"frames": HUGE}),
         lambda c, w: c.curate("ccf", frames=HUGE), lambda w: ["curate", "ccf", "--frames", HUGE],
         422, InvalidInput, r"frame range '1-999999999999' is out of range"),
    Case("score frames 1-999999999999",
         lambda w: _post_json(w, SCORE, {"dataset": "ccf", "frames": HUGE}),
         lambda c, w: c.score("fraud", dataset="ccf", frames=HUGE),
         lambda w: ["score", "fraud@champion", "--dataset", "ccf", "--frames", HUGE],
         422, InvalidInput, r"frame range '1-999999999999' is out of range"),
    Case("label frames 1-999999999999",
         lambda w: httpx.put(f"{w.url}/api/v1/labels", json={"dataset": "ccf", "frames": HUGE}),
         lambda c, w: c.label(dataset="ccf", frames=HUGE), lambda w: ["label", "--dataset", "ccf", "--frames", HUGE],
         422, InvalidInput, r"frame range '1-999999999999' is out of range"),
    Case("verify frames 1-999999999999",
         lambda w: httpx.get(f"{w.url}/api/v1/reports/verification",
                             params={"model": "fraud@champion", "frames": HUGE}),
         lambda c, w: c.verify("fraud@champion", frames=HUGE),
         lambda w: ["verify", "fraud@champion", "--frames", HUGE],
         422, InvalidInput, r"frame range '1-999999999999' is out of range"),
    Case("compat frames beyond the table",
         lambda w: httpx.get(f"{w.url}/crispml/repNewDataLabel", params={"table": "ccf", "from": 1, "to": 10_000}),
         None, None, 422, InvalidInput, r"frame range '1-10000' is out of range"),
    # -- hyper-parameters outside their documented bounds
    Case("n_estimators=1e9",
         lambda w: _post_json(w, TRAIN, {"dataset": "ccf", "params": {"n_estimators": 1_000_000_000}}),
         lambda c, w: c.train("ccf", name="m", params={"n_estimators": 1_000_000_000}),
         lambda w: ["train", "ccf", "--name", "m", "--param", "n_estimators=1000000000"],
         422, InvalidInput, r"n_estimators of rf must be an integer from 1 to 5000; got 1000000000"),
    Case("max_depth=-5",
         lambda w: _post_json(w, TRAIN, {"dataset": "ccf", "params": {"max_depth": -5}}),
         lambda c, w: c.train("ccf", name="m", params={"max_depth": -5}),
         lambda w: ["train", "ccf", "--name", "m", "--param", "max_depth=-5"],
         422, InvalidInput, r"max_depth of rf must be an integer from 1 to 1000 or None; got -5"),
    Case("learning_rate=0",
         lambda w: _post_json(w, TRAIN, {"dataset": "ccf", "algorithm": "lgbm", "params": {"learning_rate": 0}}),
         lambda c, w: c.train("ccf", name="m", algorithm="lgbm", params={"learning_rate": 0}),
         lambda w: ["train", "ccf", "--name", "m", "--algorithm", "lgbm", "--param", "learning_rate=0"],
         422, InvalidInput, r"learning_rate of lgbm must be a number above 0 up to 10; got 0"),
    Case("a string for a number",
         lambda w: _post_json(w, TRAIN, {"dataset": "ccf", "params": {"n_estimators": "ten"}}),
         lambda c, w: c.train("ccf", name="m", params={"n_estimators": "ten"}),
         lambda w: ["train", "ccf", "--name", "m", "--param", "n_estimators=ten"],
         422, InvalidInput, r"n_estimators of rf must be an integer from 1 to 5000; got 'ten'"),
    # -- record values: named by record and column, on the native route, /invocations and OIP v2
    Case("'Infinity' as a record value",
         lambda w: httpx.post(w.url + SCORE, json={"records": _with(w.record, V1="Infinity")}),
         lambda c, w: c.score("fraud", records=_with(w.record, V1="Infinity")),
         lambda w: ["score", "fraud@champion", "--file", _records_file(w, "inf.csv", V1="Infinity")],
         422, InvalidInput, r"record 0: column 'V1' must be a finite number; got '?Infinity|inf'?"),
    Case("'-inf' on /invocations",
         lambda w: httpx.post(w.url + "/invocations", json={"dataframe_records": _with(w.record, V2="-inf")}),
         lambda c, w: c.score("fraud", records=_with(w.record, V2="-inf")), None,
         422, InvalidInput, r"record 0: column 'V2' must be a finite number; got '-inf'"),
    Case("'NaN' on OIP v2",
         lambda w: httpx.post(w.url + "/v2/models/fraud/infer", json=_oip({**w.record, "V3": "NaN"})),
         lambda c, w: c.score("fraud", records=_with(w.record, V3="NaN")), None,
         422, InvalidInput, r"record 0: column 'V3' must be numeric; got 'NaN'"),
    Case("an object as a record value",
         lambda w: httpx.post(w.url + SCORE, json={"records": _with(w.record, V4={"a": 1})}),
         lambda c, w: c.score("fraud", records=_with(w.record, V4={"a": 1})), None,
         422, InvalidInput, r"record 0: column 'V4' must be numeric; got \{'a': 1\}"),
    Case("a list as a record value",
         lambda w: httpx.post(w.url + "/invocations", json={"dataframe_records": _with(w.record, V5=[1, 2])}),
         lambda c, w: c.score("fraud", records=_with(w.record, V5=[1, 2])), None,
         422, InvalidInput, r"record 0: column 'V5' must be numeric; got \[1, 2\]"),
    Case("text as a record value",
         lambda w: httpx.post(w.url + SCORE, json={"records": _with(w.record, Amount="lots")}),
         lambda c, w: c.score("fraud", records=_with(w.record, Amount="lots")),
         lambda w: ["score", "fraud@champion", "--file", _records_file(w, "text.csv", Amount="lots")],
         422, InvalidInput, r"record 0: column 'Amount' must be numeric; got 'lots'"),
    Case("a null where the model's policy fills none",
         lambda w: httpx.post(w.url + SCORE, json={"records": _with(w.record, V6=None)}),
         lambda c, w: c.score("fraud", records=_with(w.record, V6=None)),
         lambda w: ["score", "fraud@champion", "--file", _records_file(w, "gap.csv", V6=None)],
         422, InvalidInput, r"record 0: column 'V6' has missing values"),
    # -- what used to answer 500
    Case("a NUL byte in a path",
         lambda w: httpx.get(f"{w.url}/api/v1/datasets/a%00b"), None, None,  # httpx sends no NUL itself
         422, InvalidInput, r"is not a valid reference"),
    Case("version '²'",
         lambda w: httpx.get(f"{w.url}/api/v1/reports/verification", params={"model": "fraud/²"}),
         lambda c, w: c.verify("fraud/²"), lambda w: ["verify", "fraud/²"],
         422, InvalidInput, r"'fraud/²' is not a valid reference: a version is a number"),
    Case("a 300-character upload name",
         lambda w: httpx.post(f"{w.url}/api/v1/datasets/upload",
                              files={"file": ("a" * 300 + ".csv", b"a,Class\n1,0\n")}),
         None, None, 422, InvalidInput, r"upload name 'a+'\.\.\. is 304 bytes long; at most 200"),
    # -- archives: bombs and zip slip
    Case("a zip bomb on the server",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"path": "bomb.zip"}}),
         lambda c, w: c.ingest("bomb.zip"), lambda w: ["ingest", "bomb.zip"],
         413, TooLarge, r"bomb\.zip:creditcard\.csv expands to (more than )?\d+ bytes"),
    Case("a zip bomb uploaded",
         lambda w: httpx.post(f"{w.url}/api/v1/datasets/upload", params={"wait": "true"}, timeout=120,
                              files={"file": ("bomb.zip", (w.local / "bomb.zip").read_bytes())}),
         lambda c, w: c.upload(w.local / "bomb.zip"), lambda w: ["ingest", str(w.local / "bomb.zip")],
         413, TooLarge, r"expands to (more than )?\d+ bytes"),
    Case("a gzip bomb on the server",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"path": "bomb.csv.gz"}}),
         lambda c, w: c.ingest("bomb.csv.gz"), None,
         413, TooLarge, r"bomb\.csv\.gz expands to more than \d+ bytes"),
    Case("zip slip",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"path": "slip.zip"}}),
         lambda c, w: c.ingest("slip.zip"), lambda w: ["ingest", "slip.zip"],
         422, InvalidInput, r"slip\.zip holds an entry named '\.\./evil\.csv' outside the archive"),
    # -- bodies and malformed files
    Case("an oversized chunked body",
         lambda w: httpx.post(f"{w.url}/api/v1/datasets/upload", content=_chunks(3 * MAX_BODY),
                              headers={"content-type": "multipart/form-data; boundary=x"}),
         lambda c, w: c.upload(w.local / "big.csv"), lambda w: ["ingest", str(w.local / "big.csv")],
         413, TooLarge, rf"the request body exceeds {MAX_BODY} bytes"),
    Case("malformed JSON",
         lambda w: httpx.post(w.url + SCORE, content=b'{"records": [{"V1": 1.0,}',
                              headers={"content-type": "application/json"}),
         None, None, 422, InvalidInput, r"JSON|json"),
    Case("a malformed CSV upload",
         lambda w: httpx.post(f"{w.url}/api/v1/datasets/upload", params={"wait": "true"},
                              files={"file": ("bad.csv", (w.local / "bad.csv").read_bytes())}),
         lambda c, w: c.upload(w.local / "bad.csv"), lambda w: ["ingest", str(w.local / "bad.csv")],
         422, InvalidInput, r"cannot parse .*bad\.csv"),
    # -- data sources: clients name a registered source; its catalogue and a read-only session decide
    Case("a database URL from a client",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"url": f"sqlite:///{w.home}/crispml.db",
                                                                 "table": "labels"}}),
         None, lambda w: ["ingest", "--url", f"sqlite:///{w.home}/crispml.db", "--table", "labels"],
         422, InvalidInput, r"(database URLs are not accepted|crispml sources add)"),
    Case("a table not in the source's catalogue",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"source": "wh", "table": "tx; DROP TABLE tx"},
                                                      "name": "t"}),
         lambda c, w: c.ingest(source="wh", table="tx; DROP TABLE tx", name="t"), None,
         404, NotFound, r"table 'tx; DROP TABLE tx'"),
    Case("a query that writes",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"source": "wh", "query": "DELETE FROM tx"}}),
         lambda c, w: c.ingest(source="wh", query="DELETE FROM tx"), None,
         422, InvalidInput, r"source 'wh'"),
    Case("VACUUM INTO a file",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"source": "wh", "query": "VACUUM INTO '/tmp/x.db'"}}),
         lambda c, w: c.ingest(source="wh", query="VACUUM INTO '/tmp/x.db'"), None,
         422, InvalidInput, r"source 'wh'"),
    Case("a path out of the data folder",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"path": "../crispml.db"}}),
         lambda c, w: c.ingest("../crispml.db"), None,
         403, Forbidden, r"lies outside"),
    Case("an absolute path",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"path": "/etc/passwd"}}),
         lambda c, w: c.ingest("/etc/passwd"), None,
         403, Forbidden, r"lies outside"),
    Case("a symlink out of the data folder",
         lambda w: _post_json(w, "/api/v1/datasets", {"source": {"path": "escape.csv"}}),
         lambda c, w: c.ingest("escape.csv"), None,
         403, Forbidden, r"lies outside"),
    # -- requests another web page made
    Case("a foreign Origin on a state-changing GET",
         lambda w: httpx.get(f"{w.url}/crispml/repModelPersist", params={"model": "fraud", "version": 1},
                             headers={"Origin": "https://evil.example"}),
         None, None, 403, Forbidden, r"(?i)origin"),
    Case("a foreign Host",
         lambda w: httpx.get(f"{w.url}/api/v1/datasets", headers={"Host": "evil.example"}),
         None, None, 403, Forbidden, r"(?i)host"),
    Case("a malformed Parquet upload",
         lambda w: httpx.post(f"{w.url}/api/v1/datasets/upload", params={"wait": "true"},
                              files={"file": ("bad.parquet", b"PAR1 not really parquet")}),
         lambda c, w: c.upload(w.local / "bad.parquet"), lambda w: ["ingest", str(w.local / "bad.parquet")],
         422, InvalidInput, r"cannot parse .*bad\.parquet"),
]  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    home = tmp_path_factory.mktemp("hostile") / "home"
    data, local = home / "data", home.parent / "local"
    data.mkdir(parents=True)
    local.mkdir()
    write_synthetic(data / "creditcard.csv", SMALL_ROWS)
    _write_archives(data, local)
    (local / "big.csv").write_bytes(b"a,Class\n" + b"1,0\n" * (MAX_BODY // 2))
    (local / "bad.csv").write_bytes(b'a,b,Class\n1,2,0\n3,"unterminated\n4,5,6,7,8\n')
    (local / "bad.parquet").write_bytes(b"PAR1 not really parquet")
    (data / "escape.csv").symlink_to(home / "crispml.db")
    warehouse = home.parent / "warehouse.db"
    with sqlite3.connect(warehouse) as db:
        pd.read_csv(data / "creditcard.csv", nrows=50).to_sql("tx", db, index=False)
    env = {"CRISPML_MAX_UPLOAD_BYTES": str(MAX_BODY), "CRISPML_MAX_SOURCE_BYTES": str(MAX_SOURCE)}
    server = Server(home, None, env).start()
    try:
        with Client(server.url, timeout=300) as api:
            api.ingest("creditcard.csv", name="ccf")
            api.persist("fraud", api.train("ccf", name="fraud", params={"n_estimators": 5, "n_jobs": 1})["version"])
            record = pd.read_csv(data / "creditcard.csv", nrows=1).drop(columns="Class").to_dict("records")[0]
            prepared = api.prepare("ccf", missing="median")  # a model whose policy fills gaps with medians
            api.persist("filled", api.train(prepared["id"], name="filled", params={"n_estimators": 5})["version"])
            scored = api.score("fraud", records=[record])
            api.label([{"record_id": scored["scores"][0]["record_id"], "label": 0}])
            api.add_source("wh", f"sqlite:///{warehouse}")
        yield World(server, home, record, local)
    finally:
        server.stop()


def _write_archives(data: Path, local: Path) -> None:
    row = b"1.0,2.0,3.0,0\n"
    for folder in (data, local):
        with (
            zipfile.ZipFile(folder / "bomb.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive,
            archive.open("creditcard.csv", "w") as member,
        ):
            member.write(b"a,b,c,Class\n")
            for _ in range(50):
                member.write(row * 10_000)  # 7 MB from a zip of a few dozen KB
    with gzip.open(data / "bomb.csv.gz", "wb") as handle:
        handle.write(b"a,b,c,Class\n" + row * 500_000)
    with zipfile.ZipFile(data / "slip.zip", "w") as archive:
        archive.writestr("../evil.csv", b"a,Class\n1,0\n")
        archive.writestr("creditcard.csv", b"a,Class\n1,0\n")


def _refused(world: World, case: Case, attempt: Callable[[], None]) -> None:
    before = snapshot(world)
    attempt()
    assert snapshot(world) == before, f"{case.name} changed the store"


IDS = [c.name for c in CASES]
__all__ = ["make_server"]  # the fixture, for the cases with a server of their own


@pytest.fixture
def database_url() -> None:
    """This module runs on the embedded SQLite store (its snapshot reads the database file)."""
    return None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rest(world: World, case: Case) -> None:
    if case.rest is None:
        pytest.skip("no REST form")

    def attempt() -> None:
        answer = case.rest(world)  # type: ignore[misc]
        body = answer.json()
        if answer.status_code in (200, 202) and "kind" in body:  # a job: its error says what the status would
            assert body["status"] == "failed", body
            assert body["error"]["title"] == case.error.__name__, body
            detail = body["error"]["detail"]
        else:
            assert answer.status_code == case.status, answer.text
            detail = body.get("detail") or body.get("error")
        assert answer.status_code != 500 or answer.headers.get("connection") == "close"
        assert detail is not None and re.search(case.match, detail), detail

    _refused(world, case, attempt)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_client(world: World, case: Case) -> None:
    if case.client is None:
        pytest.skip("no client form")

    def attempt() -> None:
        with Client(world.url, timeout=300) as api, pytest.raises(case.error, match=case.match):
            case.client(api, world)  # type: ignore[misc]

    _refused(world, case, attempt)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_cli(world: World, case: Case, tmp_path: Path) -> None:
    if case.cli is None:
        pytest.skip("no command-line form")

    def attempt() -> None:
        args = [*case.cli(world), "--remote", world.url]  # type: ignore[misc]
        result = CliRunner().invoke(app, args, env={"CRISPML_HOME": str(tmp_path / "unused"), "COLUMNS": "200"})
        output = " ".join((result.stdout + result.stderr).split())
        assert result.exit_code == case.error.exit_code, (args, output, result.exception)
        assert re.search(case.match, output), output

    _refused(world, case, attempt)


def test_nulls_follow_the_models_missing_value_policy_and_the_answer_says_so(world: World) -> None:
    with Client(world.url) as api:
        filled = api.score("filled", records=[*_with(world.record, V1=None, V7=None), world.record])
        complete = api.score("filled", records=[world.record])
    assert filled["imputed"] == ["V1", "V7"] and len(filled["scores"]) == 2
    assert complete["imputed"] == []


def test_the_compatibility_routes_say_which_columns_were_imputed(world: World) -> None:
    gappy = {**world.record, "V3": None}
    columns = list(gappy)
    v2 = httpx.post(f"{world.url}/v2/models/filled/infer", timeout=60, json={"inputs": [
        {"name": c, "datatype": "FP64", "shape": [1], "data": [gappy[c]]} for c in columns]})  # fmt: skip
    assert v2.status_code == 200, v2.text
    assert v2.json()["parameters"]["imputed"] == ["V3"]
    mlflow = httpx.post(f"{world.url}/invocations", timeout=60, json={"dataframe_records": [world.record]})
    assert mlflow.status_code == 200, mlflow.text
    assert mlflow.json()["imputed"] == [] and len(mlflow.json()["predictions"]) == 1


# -- cases that need a server of their own --------------------------------------------------------------


def test_long_polls_hold_no_thread_and_are_capped(world: World) -> None:
    """60 long-polls on a hung job leave /healthz answering at once; each wait ends at CRISPML_MAX_WAIT_S."""
    fifo = world.data / "hang.csv"
    os.mkfifo(fifo)  # reading it blocks until a writer comes: the job hangs
    job = httpx.post(f"{world.url}/api/v1/datasets", json={"source": {"path": "hang.csv"}, "name": "hang"}).json()
    try:

        async def scenario() -> tuple[list[float], list[int], float]:
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(base_url=world.url, timeout=60, limits=limits) as http:
                params = {"wait": "true", "timeout": "5"}
                polls = [asyncio.create_task(http.get(f"/api/v1/jobs/{job['id']}", params=params)) for _ in range(60)]
                await asyncio.sleep(1.5)  # every poll is in and waiting
                health = []
                for _ in range(5):
                    started = time.monotonic()
                    assert (await http.get("/healthz")).status_code == 200
                    health.append(time.monotonic() - started)
                started = time.monotonic()
                answers = await asyncio.gather(*polls)
                return health, [a.status_code for a in answers], time.monotonic() - started

        health, statuses, rest = asyncio.run(scenario())
        # Each answer is a millisecond's work; the bounds leave room for a machine shared with other tests.
        assert sorted(health)[2] < 0.25 and max(health) < 1.0, health
        assert set(statuses) == {202}  # the job still runs: each wait ended at its timeout
        assert rest < 10
    finally:
        with fifo.open("w"):  # let the hung read end (on an empty file: the job fails)
            pass
    assert Client(world.url).job(job["id"], wait=True, timeout=30)["status"] == "failed"


def test_a_wait_longer_than_the_cap_is_answered_at_the_cap(make_server: Callable[..., Server], home: Path) -> None:
    (home / "data").mkdir(parents=True)
    os.mkfifo(home / "data" / "hang.csv")
    server = make_server(CRISPML_MAX_WAIT_S="1").start()
    job = httpx.post(f"{server.url}/api/v1/datasets", json={"source": {"path": "hang.csv"}}).json()
    try:
        started = time.monotonic()
        answer = httpx.get(f"{server.url}/api/v1/jobs/{job['id']}", params={"wait": "true", "timeout": 3600})
        assert answer.status_code == 202 and answer.json()["status"] in ("queued", "running")
        assert time.monotonic() - started < 5
    finally:
        with (home / "data" / "hang.csv").open("w"):
            pass


def test_a_job_past_its_time_limit_ends_timed_out_storing_nothing(
    make_server: Callable[..., Server], home: Path, small_csv: Path
) -> None:
    (home / "data").mkdir(parents=True)
    (home / "data" / "creditcard.csv").write_bytes(small_csv.read_bytes())
    server = make_server(CRISPML_JOB_TIME_LIMITS=json.dumps({"train": 0.5})).start()
    with Client(server.url, timeout=300) as api:
        api.ingest("creditcard.csv", name="ccf")
        models = sorted((home / "artifacts").rglob("*"))
        body = {"dataset": "ccf", "params": {"n_estimators": 400, "n_jobs": 1}}
        wait = {"wait": "true", "timeout": 60}
        answer = httpx.post(f"{server.url}/api/v1/models/m/versions", params=wait, json=body, timeout=90)
        job = answer.json()
        assert job["status"] == "failed" and job["error"]["title"] == "TimedOut", job
        assert "time limit of 0.5 s" in job["error"]["detail"]
        assert api.models()["items"] == [] and sorted((home / "artifacts").rglob("*")) == models


def test_a_job_stuck_past_its_time_limit_ends_timed_out(make_server: Callable[..., Server], home: Path) -> None:
    """A read that hangs reports no progress: the watchdog ends the job at its limit all the same."""
    (home / "data").mkdir(parents=True)
    fifo = home / "data" / "hang.csv"
    os.mkfifo(fifo)
    server = make_server(CRISPML_JOB_TIME_LIMITS=json.dumps({"ingest": 1})).start()
    started = time.monotonic()
    wait = {"wait": "true", "timeout": 30}
    job = httpx.post(f"{server.url}/api/v1/datasets", params=wait, json={"source": {"path": "hang.csv"}}).json()
    try:
        assert job["status"] == "failed" and job["error"]["title"] == "TimedOut", job
        assert time.monotonic() - started < 15
    finally:
        # The stuck read goes on: it gets a file that would ingest (a reader that gave up first
        # leaves the pipe without a reader: nothing to unblock then).
        with contextlib.suppress(BrokenPipeError), fifo.open("w") as writer:
            writer.write("a,Class\n1,0\n2,1\n")
    time.sleep(1)
    assert httpx.get(f"{server.url}/api/v1/jobs/{job['id']}").json()["error"]["title"] == "TimedOut"
    assert httpx.get(f"{server.url}/api/v1/datasets").json()["items"] == []


# -- tampered files: refused at load, never executed -----------------------------------------------------


def _local_model(home: Path, small_csv: Path) -> tuple[Any, Any]:
    store = crispml.connect(home=home, user="tester")
    raw = store.ingest(SourceSpec(path=str(small_csv)), name="ccf")
    model = store.train(raw.name, algorithm="rf", frames="1-6", name="fraud", params={"n_estimators": 5, "n_jobs": 1})
    return store, model


def test_a_tampered_model_or_dataset_file_is_refused_at_load(home: Path, small_csv: Path) -> None:
    store, model = _local_model(home, small_csv)
    store.close()
    artifact = next((home / "artifacts" / "models").glob(f"{model.artifact_sha256}*"))
    artifact.write_bytes(artifact.read_bytes()[:-4] + b"evil")
    with (
        crispml.connect(home=home, user="tester") as fresh,
        pytest.raises(IntegrityFailure, match=model.artifact_sha256),
    ):
        fresh.report(model.ref, frames="7-12")
    dataset = next((home / "artifacts" / "datasets").glob("*.parquet"))
    dataset.write_bytes(dataset.read_bytes().replace(b"PAR1", b"PAR1", 1) + b"\0")
    with crispml.connect(home=home, user="tester") as fresh, pytest.raises(IntegrityFailure, match=dataset.stem):
        fresh.curate("ccf", algorithm="rf", frames="1-6")


def test_an_untrusted_skops_file_in_place_of_a_model_is_never_loaded(home: Path, small_csv: Path) -> None:
    import hashlib

    import skops.io as sio
    from sqlalchemy import create_engine, text

    store, model = _local_model(home, small_csv)
    store.close()
    marker = home / "executed"
    # os.system would run if the file were loaded: skops names it as a type crispml does not trust.
    hostile = sio.dumps({"model": os.system, "command": f"touch {marker}"})
    digest = hashlib.sha256(hostile).hexdigest()
    (home / "artifacts" / "models" / f"{digest}.skops").write_bytes(hostile)
    engine = create_engine(f"sqlite:///{home / 'crispml.db'}")
    with engine.begin() as connection:  # the row is pointed at it, hash and all
        connection.execute(text("UPDATE model_versions SET artifact_sha256 = :d"), {"d": digest})
    engine.dispose()
    # The row's audit binding refuses it first; the codec's trusted types would refuse it next.
    refused = r"system|its audit event recorded"
    with crispml.connect(home=home, user="tester") as fresh, pytest.raises(IntegrityFailure, match=refused):
        fresh.report(model.ref, frames="7-12")
    assert not marker.exists()


def test_every_hostile_case_has_a_unique_name() -> None:
    assert len(set(IDS)) == len(IDS)
    assert all(c.rest or c.client or c.cli for c in CASES)
