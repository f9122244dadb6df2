"""Promotion between environments: three real servers acting as dev, QA (on PostgreSQL) and prod.

A model trained by a pipeline in dev goes to QA (the CLI) and on to prod (the Python client), each
target checking the signed bundle and applying its own gates on its own labelled frames; a weak model is
refused by QA's gate, which names itself and its figures; tampered, unsigned and foreign-key bundles are
refused by prod with nothing written.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from crispml.client import Client
from crispml.errors import GateFailed, InvalidInput
from crispml.steps.bundle import build_bundle
from tests.api.conftest import Server, with_small_csv
from tests.cli.conftest import Ran, run
from tests.conftest import _fresh_postgres_database

KEY = "a-promotion-key-shared-by-the-environments"
GATES = {"dataset": "ccf", "frames": "7-12", "min_roc_auc": 0.7, "max_drop": 0.02, "min_labelled": 1000}
PIPELINE = {
    "name": "fraud-pipeline",
    "ingest": {"source": {"path": "creditcard.csv"}, "name": "ccf", "slices": 12},
    "curate": {"algorithm": "rf", "frames": "1-6"},
    "train": {"name": "fraud", "algorithm": "rf", "frames": "1-6", "weight": 10, "params": {"n_estimators": 20}},
    "report": {"frames": "7-12"},
    "gates": [{"kpi": "roc_auc", "op": ">=", "value": 0.8}],
    "persist": {"alias": "champion"},
}


def _cli(*args: str) -> Ran:
    """The command, in this process (a new process per command costs seconds on a busy machine)."""
    return run(list(args), {}, expect=None)


@pytest.fixture(scope="module")
def envs(tmp_path_factory: pytest.TempPathFactory, small_csv: Path) -> Iterator[dict[str, Server]]:
    """dev and prod on SQLite, QA on PostgreSQL; each knows the next as its promotion target."""
    root = tmp_path_factory.mktemp("environments")
    with _fresh_postgres_database() as qa_database:
        servers = {
            "dev": Server(with_small_csv(root / "dev", small_csv), None),
            "qa": Server(with_small_csv(root / "qa", small_csv), qa_database),
            "prod": Server(with_small_csv(root / "prod", small_csv), None),
        }
        for name, following in (("dev", "qa"), ("qa", "prod"), ("prod", None)):
            env = servers[name].env
            env.update({"CRISPML_ENVIRONMENT": name, "CRISPML_PROMOTION_KEY": KEY, "CRISPML_USER": f"{name}-admin"})
            if following is not None:
                env["CRISPML_PROMOTION_TARGETS"] = json.dumps({following: {"url": servers[following].url}})
            if name != "dev":
                env["CRISPML_PROMOTION_GATES"] = json.dumps(GATES)
        try:
            with ThreadPoolExecutor(3) as pool:  # three processes start (and load their data) side by side
                list(pool.map(lambda server: server.start(), servers.values()))
                list(pool.map(_first_data, servers.items()))
            yield servers
        finally:
            for server in servers.values():
                server.stop()


def _first_data(item: tuple[str, Server]) -> None:
    """dev runs the pipeline that trains fraud/1; QA and prod ingest their own labelled data for their gates."""
    name, server = item
    with Client(server.url, timeout=300) as api:
        api.run_pipeline(PIPELINE) if name == "dev" else api.ingest("creditcard.csv", name="ccf")


@pytest.fixture(scope="module")
def promoted(envs: dict[str, Server]) -> dict[str, Any]:
    """A pipeline's model in dev, promoted to QA with the CLI and on to prod with the client; the seconds it took."""
    started = time.perf_counter()
    to_qa = _cli("promote", "fraud/1", "--to", "qa", "--remote", envs["dev"].url, "--json")
    assert to_qa.code == 0, to_qa.stderr
    with Client(envs["qa"].url, timeout=300) as qa:
        to_prod = qa.promote("fraud", 1, to="prod")
    seconds = time.perf_counter() - started
    print(f"\ndev -> qa -> prod promotion of a 20-tree forest: {seconds:.2f} s")
    return {"qa": json.loads(to_qa.stdout), "prod": to_prod, "seconds": seconds}


def _actions(server: Server) -> list[str]:
    with Client(server.url) as api:
        return [e["action"] for e in api.audit(limit=1000)["items"]]


def test_a_pipeline_model_goes_from_dev_to_qa_to_prod_with_its_gates_and_provenance(
    envs: dict[str, Server], promoted: dict[str, Any]
) -> None:
    assert promoted["qa"]["moved"] and promoted["prod"]["moved"]
    assert promoted["qa"]["gates"][0].startswith("min_labelled 1000 (12000 labelled)")
    assert promoted["prod"]["figures"]["candidate"]["roc_auc"] >= 0.7
    with Client(envs["dev"].url) as dev, Client(envs["prod"].url) as prod:
        source = dev.model("fraud", 1)
        target = prod.alias("fraud", "champion")
        assert target["artifact_sha256"] == source["artifact_sha256"]  # the very artifact, hash-checked twice
        provenance = prod.provenance("fraud", target["version"])
        assert (
            provenance["source_environment"] == "qa"
            and provenance["bundle_sha256"] == promoted["prod"]["bundle_sha256"]
        )
        assert [h["environment"] for h in provenance["history"]] == ["dev", "qa"]
        assert provenance["pipeline_file"]["name"] == "fraud-pipeline"
        assert provenance["lineage"] == ["dev.ccf-cur/1 (curated)", "dev.ccf-prep/1 (prepared)", "dev.ccf/1 (raw)"]
        # prod scores its own data with the promoted champion, whose lineage reaches dev's raw source
        scored = prod.score("fraud", alias="champion", dataset="ccf", frames="12")
        assert scored["model"] == f"fraud/{target['version']}"
        lineage = prod.lineage("fraud", alias="champion")
        labels = [n["label"] for n in lineage["items"]]
        assert labels[:4] == [f"fraud/{target['version']}", "dev.ccf-cur/1 (curated)", "dev.ccf-prep/1 (prepared)",
                              "dev.ccf/1 (raw)"], labels  # fmt: skip
    shown = _cli("provenance", f"fraud/{target['version']}", "--remote", envs["prod"].url)
    assert shown.code == 0 and "imported from qa fraud/1" in shown.stdout, shown.stderr
    assert {"model.export", "model.promote"} <= set(_actions(envs["dev"]))
    assert {"model.import", "promotion.accept", "alias.set", "model.export", "model.promote"} <= set(
        _actions(envs["qa"])
    )
    assert {"model.import", "promotion.accept", "alias.set"} <= set(_actions(envs["prod"]))
    for server in envs.values():
        with Client(server.url) as api:
            assert api.verify_audit() > 0


def test_a_weak_model_is_refused_by_the_gate_that_failed_and_the_champion_stays(
    envs: dict[str, Server], promoted: dict[str, Any]
) -> None:
    with Client(envs["dev"].url, timeout=300) as dev, Client(envs["qa"].url) as qa:
        weak = dev.train("ccf-cur", name="fraud", algorithm="rf", frames="1", weight=10,
                         params={"n_estimators": 1, "max_depth": 1})  # fmt: skip
        champion = qa.alias("fraud", "champion")
        with pytest.raises(GateFailed) as refused:
            dev.promote("fraud", weak["version"], to="qa")
        message = str(refused.value)
        assert "gate max_drop 0.02 failed" in message and "the champion fraud/1" in message, message
        assert "alias champion not moved" in message
        assert qa.alias("fraud", "champion") == champion
        # Kept, not promoted: the imported version and where it came from stay on record.
        kept = qa.provenance("fraud", 2)
        assert kept["source_ref"] == f"fraud/{weak['version']}"
        refusals = qa.audit(action="promotion.refuse")["items"]
        assert refusals[0]["after"]["gate"] == "max_drop"
        assert refusals[0]["after"]["figures"]["candidate"]["roc_auc"] < 0.8
        assert dev.audit(action="promotion.refused")["items"][0]["after"]["error"] == "GateFailed"
    again = _cli("promote", f"fraud/{weak['version']}", "--to", "qa", "--remote", envs["dev"].url)
    assert again.code == 4 and "gate max_drop 0.02 failed" in again.stderr, again.stderr


def _rewrite(bundle: bytes, change: dict[str, bytes | None]) -> bytes:
    """The bundle with some entries replaced (None: removed), its manifest and signature left as they were."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(bundle)) as source, zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = change.get(name, source.read(name))
            if data is not None:
                target.writestr(name, data)
    return out.getvalue()


def _state(server: Server) -> tuple[Any, ...]:
    with Client(server.url) as api:
        files = sorted(p.name for p in (server.home / "artifacts").rglob("*") if p.is_file())
        return api.versions("fraud"), api.datasets(limit=1000)["total"], files


def test_tampered_unsigned_and_foreign_bundles_are_refused_with_nothing_written(
    envs: dict[str, Server], promoted: dict[str, Any], tmp_path: Path
) -> None:
    good = tmp_path / "fraud-1.zip"
    written = _cli("bundle", "export", "fraud/1", "--out", str(good), "--remote", envs["dev"].url)
    assert written.code == 0, written.stderr
    bundle = good.read_bytes()
    with zipfile.ZipFile(io.BytesIO(bundle)) as opened:
        manifest = json.loads(opened.read("manifest.json"))
        model_file = next(n for n in opened.namelist() if n.startswith("files/model"))
        artifact = bytearray(opened.read(model_file))
    artifact[len(artifact) // 2] ^= 0x01
    body = {k: v for k, v in manifest.items() if k not in ("format", "files")}
    files = {name: zipfile.ZipFile(io.BytesIO(bundle)).read(f"files/{name}") for name in manifest["files"]}
    manifest_text = json.dumps(manifest, sort_keys=True, indent=1)
    bad = {
        "artifact": (_rewrite(bundle, {model_file: bytes(artifact)}), "was altered: its sha256 is"),
        "manifest": (
            _rewrite(bundle, {"manifest.json": manifest_text.replace('"fraud"', '"fraue"').encode()}),
            "does not match its signature",
        ),
        "unsigned": (_rewrite(bundle, {"signature.json": None}), "unsigned"),
        "foreign key": (build_bundle(body, files, b"another environment's key"), "signed with another promotion key"),
        "raw flip": (
            bundle[: len(bundle) // 2] + bytes([bundle[len(bundle) // 2] ^ 0xFF]) + bundle[len(bundle) // 2 + 1 :],
            "bundle",
        ),
    }
    prod = envs["prod"]
    before = _state(prod)
    for case, (data, expected) in bad.items():
        path = tmp_path / f"{case}.zip"
        path.write_bytes(data)
        if case in ("artifact", "foreign key"):  # the command line too (each start costs seconds)
            refused = _cli("bundle", "import", str(path), "--alias", "champion", "--remote", prod.url)
            assert refused.code == 2 and expected in refused.stderr, (case, refused.stderr)
        with Client(prod.url) as api, pytest.raises(InvalidInput, match=expected):
            api.import_model(data, alias="champion")
        assert _state(prod) == before, case
    with Client(prod.url) as api:
        assert len(api.audit(action="bundle.refuse", limit=100)["items"]) >= len(bad) + 2
        # The genuine bundle, imported again by hand (air-gapped), finds its version already there: nothing twice.
        again = api.import_model(good)
        assert again["imported"] is False and again["source_model"] == "fraud/1"
    assert _state(prod) == before
