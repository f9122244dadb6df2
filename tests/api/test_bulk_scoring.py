"""Columnar bulk scoring: a whole table (Arrow stream, Parquet, CSV, dataframe_split JSON) scored through
`POST /api/v1/models/{name}/score`, persisted like records, with the same ids; bad bodies write nothing.

One server and one champion serve the module: each test counts the scores it writes from where it starts.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import crispml
from crispml import score_stream
from crispml.backends.remote_backend import RemoteBackend
from crispml.client import AsyncClient, Client
from crispml.client.wire import arrow_stream
from crispml.errors import InvalidInput
from tests.api.conftest import Server
from tests.cli.conftest import run

FEATURES = ["Time", *[f"V{i}" for i in range(1, 29)], "Amount"]
ARROW = "application/vnd.apache.arrow.stream"


@pytest.fixture(scope="module")
def server(shared_server: Server) -> Server:
    return shared_server


@pytest.fixture(scope="module")
def rows(server: Server, small_csv: Path) -> Iterator[pd.DataFrame]:
    """300 unseen rows (Time as integers) for a champion trained over REST."""
    with Client(server.url, timeout=300) as client:
        client.ingest("creditcard.csv", name="ccf")
        model = client.train("ccf", name="fraud", weight=10, params={"n_estimators": 10})
        client.persist("fraud", model["version"])
    frame = pd.read_csv(small_csv).iloc[20_000:20_300][FEATURES]
    yield frame.astype({"Time": "int64"}).reset_index(drop=True)


async def async_score(url: str, rows: pd.DataFrame) -> Any:
    async with AsyncClient(url, timeout=120) as api:
        return await api.score("fraud", table=rows)


def ledger_rows(server: Server) -> int:
    with crispml.connect(home=server.home) as cml, cml.store.reading() as uow:
        return uow.ledger.count()


def post(server: Server, body: bytes, content_type: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{server.url}/api/v1/models/fraud/score", content=body,
                      headers={"content-type": content_type, **headers}, timeout=120)  # fmt: skip


def parquet(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


def scored(answer: dict[str, Any]) -> list[tuple[str, float, int]]:
    return [(s["record_id"], s["score"], s["decision"]) for s in answer["scores"]]


def test_every_table_format_scores_and_persists_like_records(
    server: Server, client: Client, rows: pd.DataFrame
) -> None:
    before = ledger_rows(server)
    as_records = client.score("fraud", records=rows.to_dict("records"))
    expected = scored(as_records)
    assert len(expected) == len(rows) and len({i for i, _, _ in expected}) == len(rows)
    answers = {
        "client (Arrow from pandas)": client.score("fraud", table=rows),
        "client (pyarrow Table)": client.score("fraud", table=pa.Table.from_pandas(rows, preserve_index=False)),
        "AsyncClient": asyncio.run(async_score(server.url, rows)),
        "Arrow stream": post(server, arrow_stream(rows), ARROW).json(),
        "Parquet": post(server, parquet(rows), "application/vnd.apache.parquet").json(),
        "x-parquet": post(server, parquet(rows), "application/x-parquet").json(),
        "CSV": post(server, rows.to_csv(index=False).encode(), "text/csv; charset=utf-8").json(),
        "dataframe_split": httpx.post(f"{server.url}/api/v1/models/fraud/score",
                                      json={"dataframe_split": rows.to_dict(orient="split", index=False)}).json(),
    }  # fmt: skip
    for how, answer in answers.items():
        assert set(answer) == set(as_records), how
        assert answer["rows"] == len(rows) and answer["model"] == "fraud/1" and not answer["replayed"], how
        assert [i for i, _, _ in scored(answer)] == [i for i, _, _ in expected], how
        assert [s for _, s, _ in scored(answer)] == pytest.approx([s for _, s, _ in expected]), how
        # Persisted: the batch read back holds the same ids and scores.
        page = client.batch(answer["batch_id"], limit=1000)
        assert [(s["record_id"], s["score"]) for s in page["scores"]] == [(i, s) for i, s, _ in scored(answer)], how
    assert ledger_rows(server) - before == len(rows) * (1 + len(answers))


def test_a_record_id_or_a_null_takes_the_records_way_too(server: Server, client: Client, rows: pd.DataFrame) -> None:
    named = rows.assign(record_id=[f"r-{i:04d}" for i in range(len(rows))])
    answer = client.score("fraud", table=named)
    assert [s["record_id"] for s in answer["scores"]] == named["record_id"].tolist()
    csv = post(server, named.to_csv(index=False).encode(), "text/csv").json()
    assert scored(csv) == scored(answer)
    # A gap (null) is not the fast columnar case: the table goes the records way, with the same answer
    # (this model's data had no gaps, so it refuses one either way).
    gappy = rows.head(5).copy()
    gappy.loc[2, "V1"] = None
    records = gappy.astype(object).where(gappy.notna(), None).to_dict("records")
    with pytest.raises(InvalidInput) as as_table:
        client.score("fraud", table=gappy)
    with pytest.raises(InvalidInput) as as_records:
        client.score("fraud", records=records)
    assert str(as_table.value) == str(as_records.value) and "'V1'" in str(as_table.value)
    # Booleans and text that reads as a number are taken as records take them.
    mixed = rows.head(4).assign(V2=[True, False, True, False]).astype({"V3": str})
    assert scored(client.score("fraud", table=mixed)) == scored(client.score("fraud", records=mixed.to_dict("records")))


def test_an_idempotent_retry_answers_the_first_batch_and_writes_nothing(server: Server, rows: pd.DataFrame) -> None:
    before = ledger_rows(server)
    body = arrow_stream(rows)
    first = post(server, body, ARROW, **{"Idempotency-Key": "bulk-1"})
    assert first.status_code == 200 and first.json()["replayed"] is False
    written = ledger_rows(server)
    again = post(server, body, ARROW, **{"Idempotency-Key": "bulk-1"})
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["batch_id"] == first.json()["batch_id"] and scored(again.json()) == scored(first.json())
    other = post(server, arrow_stream(rows.head(10)), ARROW, **{"Idempotency-Key": "bulk-1"})
    assert other.status_code == 409 and "bulk-1" in other.json()["detail"]
    assert ledger_rows(server) == written == before + len(rows)


def test_a_table_that_accepts_arrow_gets_its_scores_as_an_arrow_stream(
    server: Server, client: Client, rows: pd.DataFrame
) -> None:
    named = rows.head(40).assign(record_id=[f"a-{i:03d}" for i in range(40)])
    as_json = client.score("fraud", table=named)
    answer = client.score("fraud", table=named, scores_as="table")
    scores = answer.pop("scores")
    assert isinstance(scores, pa.Table) and scores.schema.metadata is None
    assert scores.schema.names == ["record_id", "frame", "score", "decision"]
    assert scores.schema.field("decision").type == pa.int8()
    # The rest of the answer is the JSON answer's, less the scores; the rows are its rows, as stored.
    assert set(answer) == set(as_json) - {"scores"} and answer["rows"] == 40 and answer["model"] == "fraud/1"
    assert answer["flagged"] == sum(s["decision"] for s in as_json["scores"]) and not answer["replayed"]
    assert scores.to_pylist() == [{**s, "score": pytest.approx(s["score"])} for s in as_json["scores"]]
    stored = client.batch(answer["batch_id"], limit=1000)["scores"]
    assert [(s["record_id"], s["frame"], s["score"], s["decision"]) for s in stored] == [
        (r["record_id"], r["frame"], r["score"], r["decision"]) for r in scores.to_pylist()
    ]
    for wrong in ({"records": named.to_dict("records"), "scores_as": "table"}, {"table": named, "scores_as": "rows"}):
        with pytest.raises(InvalidInput, match="scores_as"):
            client.score("fraud", **wrong)
    # A retry with the same key answers the first batch as a stream too.
    body = arrow_stream(named)
    first = post(server, body, ARROW, accept=ARROW, **{"Idempotency-Key": "arrow-answer-1"})
    again = post(server, body, ARROW, accept=ARROW, **{"Idempotency-Key": "arrow-answer-1"})
    assert first.headers["content-type"] == again.headers["content-type"] == ARROW
    replay = score_stream.decode(again.content)
    assert replay["replayed"] and replay["batch_id"] == score_stream.decode(first.content)["batch_id"]
    assert replay["scores"].equals(score_stream.decode(first.content)["scores"])


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (None, "application/json"),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (ARROW, ARROW),
        (ARROW.upper(), ARROW),
        (f"application/json;q=0.5, {ARROW}", ARROW),
        (f"{ARROW};q=0.4, application/json;q=0.9", "application/json"),
        (f"{ARROW};q=0", "application/json"),
        (f"{ARROW};q=nonsense, application/json", "application/json"),
    ],
)
def test_the_accept_header_chooses_the_answer(
    server: Server, rows: pd.DataFrame, accept: str | None, media_type: str
) -> None:
    headers = {} if accept is None else {"accept": accept}
    response = post(server, arrow_stream(rows.head(3)), ARROW, **headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith(media_type)


def test_every_bad_body_is_one_problem_and_writes_nothing(server: Server, rows: pd.DataFrame) -> None:
    before = ledger_rows(server)
    text = rows.head(3).astype(object)
    text.loc[1, "V3"] = "lots"
    twice = rows.head(3).assign(record_id=["a", "b", "a"])
    empty = pa.Table.from_pandas(rows.head(0), preserve_index=False)
    split = rows.head(3).to_dict(orient="split", index=False)
    bad: list[tuple[httpx.Response, int, str]] = [
        (post(server, b"not arrow at all", ARROW), 422, "not a readable Arrow IPC stream"),
        (post(server, b"PAR1 nonsense", "application/vnd.apache.parquet"), 422, "not a readable Parquet"),
        (post(server, b"", "text/csv"), 422, "empty"),
        (post(server, b'a,b\n"1,2\n', "text/csv"), 422, "not a readable CSV"),
        (post(server, rows.drop(columns=["V7"]).to_csv(index=False).encode(), "text/csv"), 422, "'V7'"),
        (post(server, arrow_stream(rows.drop(columns=["Amount"])), ARROW), 422, "lack column 'Amount'"),
        (post(server, text.to_csv(index=False).encode(), "text/csv"), 422, "'V3' must be numeric; got 'lots'"),
        (post(server, parquet(text.astype(str)), "application/x-parquet"), 422, "'V3' must be numeric"),
        (post(server, arrow_stream(empty), ARROW), 422, "no rows"),
        (post(server, arrow_stream(twice), ARROW), 422, "not unique"),
        (post(server, b"<rows/>", "application/xml"), 415, "application/xml"),
        (post(server, b"Time,V1\n1,2\n", "text/plain"), 415, "text/plain"),
        (httpx.post(f"{server.url}/api/v1/models/fraud/score",
                    json={"dataframe_split": {**split, "data": [*split["data"][:2], [1.0]]}}), 422, "row 2"),
        (httpx.post(f"{server.url}/api/v1/models/fraud/score",
                    json={"dataframe_split": {"columns": FEATURES, "data": []}}), 422, "no rows"),
        (httpx.post(f"{server.url}/api/v1/models/fraud/score",
                    json={"dataframe_split": split, "records": rows.head(1).to_dict("records")}), 422, "one of"),
        (httpx.post(f"{server.url}/api/v1/models/fraud/score", json={"dataframe_split": {"columns": "x"}}), 422,
         "dataframe_split"),
    ]  # fmt: skip
    for response, status, detail in bad:
        problem = response.json()
        assert response.status_code == status, problem
        assert response.headers["content-type"] == "application/problem+json", problem
        assert detail in problem["detail"], problem
    assert ledger_rows(server) == before


def test_the_openapi_documents_the_table_media_types(server: Server) -> None:
    operation = httpx.get(f"{server.url}/openapi.json").json()["paths"]["/api/v1/models/{name}/score"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", ARROW, "application/vnd.apache.parquet", "application/x-parquet",
                            "text/csv"}  # fmt: skip
    assert set(operation["responses"]["200"]["content"]) == {"application/json", ARROW}
    assert "dataframe_split" in str(content["application/json"]) or "ScoreBody" in str(content["application/json"])
    assert "415" in operation["responses"]


def test_cli_remote_score_file_sends_one_arrow_stream(
    server: Server, client: Client, rows: pd.DataFrame, tmp_path: Path
) -> None:
    new = tmp_path / "new.csv"
    rows.to_csv(new, index=False)
    sent: list[str] = []
    with Client(server.url, event_hooks={"request": [lambda r: sent.append(r.headers.get("content-type", ""))]}) as api:
        answer = RemoteBackend(api).score("fraud@champion", dataset=None, frames=None, file=str(new),
                                          idempotency_key=None)  # fmt: skip
    assert ARROW in sent and len(answer["scores"]) == len(rows)
    expected = [s["record_id"] for s in client.score("fraud", records=rows.to_dict("records"))["scores"]]
    assert [s["record_id"] for s in answer["scores"]] == expected
    output = tmp_path / "scores.csv"
    ran = run(["score", "fraud@champion", "--file", str(new), "--output", str(output), "--remote", server.url],
              {"CRISPML_HOME": str(tmp_path / "unused")})  # fmt: skip
    assert ran.code == 0
    written = pd.read_csv(output, dtype={"record_id": str})
    assert written["record_id"].tolist() == expected
    missing = run(["score", "fraud@champion", "--file", str(tmp_path / "nope.csv"), "--remote", server.url],
                  {"CRISPML_HOME": str(tmp_path / "unused")}, expect=None)  # fmt: skip
    assert missing.code != 0 and "nope.csv" in missing.text
