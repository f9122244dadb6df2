"""`crispml audit list|verify` on SQLite and PostgreSQL: verify exits 5 naming the first event edited,
deleted or reordered behind the service's back; list filters as the REST route does, also --remote."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from crispml.settings import Settings
from tests.api.conftest import Server
from tests.cli.conftest import Cli, run


@pytest.fixture
def database_url() -> None:
    """The HTTP and CLI layers tested here act alike on both stores; the services' and storage's tests
    run on SQLite and PostgreSQL, so these start one server per test, not two."""
    return None


@pytest.fixture
def audited(cli: Cli, small_csv: Path, tmp_path: Path) -> Cli:
    """A store with four events: ingest, prepare, and two label imports."""
    cli("ingest", str(small_csv), "--name", "ccf", "--json")
    cli("prepare", "ccf", "--json")
    labels = tmp_path / "labels.csv"
    labels.write_text("record_id,label\nr-1,0\nr-2,1\n")
    cli("label", str(labels), "--json")
    labels.write_text("record_id,label\nr-1,1\n")
    cli("label", str(labels), "--json")
    return cli


def _tamper(store_env: dict[str, str | None], *statements: str) -> None:
    """Change the store's database behind the service's back."""
    url = store_env["CRISPML_DATABASE_URL"] or Settings(home=Path(str(store_env["CRISPML_HOME"]))).resolved_database_url
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    engine.dispose()


def test_verify_counts_an_intact_log(audited: Cli) -> None:
    assert "audit log intact: 4 events checked" in audited("audit", "verify")
    assert audited("audit", "verify", "--json") == {"checked": 4}


@pytest.mark.parametrize(
    ("statements", "named"),
    [
        (["UPDATE audit_events SET principal = 'mallory' WHERE seq = 2"], "audit event 2 (dataset.prepare"),
        (["DELETE FROM audit_events WHERE seq = 3"], "audit event 3 is missing: deleted"),
        (
            [
                "UPDATE audit_events SET seq = 100 WHERE seq = 3",
                "UPDATE audit_events SET seq = 3 WHERE seq = 4",
                "UPDATE audit_events SET seq = 4 WHERE seq = 100",
            ],
            "audit event 3 (labels.import",
        ),
    ],
    ids=["edited", "deleted", "reordered"],
)
def test_verify_names_the_first_tampered_event_and_exits_5(
    audited: Cli, store_env: dict[str, str | None], statements: list[str], named: str
) -> None:
    _tamper(store_env, *statements)
    failed = run(["audit", "verify"], store_env, expect=5)
    assert named in failed.stderr
    as_json = run(["audit", "verify", "--json"], store_env, expect=5).json
    assert as_json["error"]["title"] == "IntegrityFailure" and named in as_json["error"]["detail"]


def test_list_filters_by_action_principal_and_resource(audited: Cli) -> None:
    page = audited("audit", "list", "--json")
    assert page["total"] == 4 and [e["seq"] for e in page["items"]] == [4, 3, 2, 1]
    labels = audited("audit", "list", "--action", "labels.import", "--json")["items"]
    assert [e["before"]["replaced"] for e in labels] == [1, 0]
    assert labels[0]["before"]["old_labels"] == {"r-1": 0} and labels[0]["principal"] == "cli-tester"
    assert audited("audit", "list", "--action", "dataset.*", "--limit", "1", "--json")["items"][0]["seq"] == 2
    assert audited("audit", "list", "--principal", "nobody", "--json")["total"] == 0
    resource = page["items"][3]["resource"]
    assert [e["seq"] for e in audited("audit", "list", "--resource", resource, "--json")["items"]] == [1]
    assert audited("audit", "list", "--since", "2999-01-01", "--json")["total"] == 0
    table = audited("audit", "list")
    assert "labels.import" in table and "dataset.ingest" in table
    assert "--limit" in audited("audit", "list", "--limit", "0", expect=2)


def test_list_remote_answers_what_list_local_answers(
    server: Server, store_env: dict[str, str | None], small_csv: Path
) -> None:
    remote = ["--remote", server.url]
    run(["ingest", str(small_csv), "--name", "ccf", "--json", *remote], store_env)
    listed = run(["audit", "list", "--json", *remote], store_env).json
    assert listed == run(["audit", "list", "--json"], store_env).json
    assert [e["action"] for e in listed["items"]] == ["dataset.ingest"]
    assert listed["items"][0]["principal"] == "api-tester" and listed["items"][0]["request_id"]
    assert run(["audit", "list", "--action", "alias.*", "--json", *remote], store_env).json["total"] == 0


def test_verify_remote_has_the_server_walk_its_chain(
    server: Server, store_env: dict[str, str | None], small_csv: Path
) -> None:
    remote = ["--remote", server.url]
    run(["ingest", str(small_csv), "--name", "ccf", "--json", *remote], store_env)
    assert run(["audit", "verify", "--json", *remote], store_env).json == {"checked": 1}
    _tamper(store_env, "UPDATE audit_events SET principal = 'mallory' WHERE seq = 1")
    broken = run(["audit", "verify", "--json", *remote], store_env, expect=5).json
    assert (
        broken["error"]["title"] == "IntegrityFailure" and "audit event 1 (dataset.ingest" in broken["error"]["detail"]
    )
