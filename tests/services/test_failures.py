"""Failures: bad input is refused by name and changes nothing; a kill -9 at any moment leaves no half-write.

Every test runs on SQLite and on PostgreSQL. A "snapshot" is what a failure must not change: the dataset,
model, score, batch and label counts and the set of files under the artifact folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import crispml
from crispml.domain import SourceSpec
from crispml.errors import Conflict, CrispmlError, IntegrityFailure, InvalidInput, NotFound
from crispml.local import Crispml
from crispml.services.synthesis import write_synthetic
from crispml.steps import model_codec
from crispml.storage import schema
from crispml.storage.artifacts import STAGED_MARK

CLI = str(Path(sys.executable).with_name("crispml"))
FAST = {"n_estimators": 5, "n_jobs": 1}
FAST_CLI = ["--param", "n_estimators=5", "--param", "n_jobs=1"]
LARGE_ROWS = 284_807


# -- helpers --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Snapshot:
    datasets: int
    models: int
    scores: int
    batches: int
    labels: int
    files: frozenset[str]


def artifact_files(home: Path) -> frozenset[str]:
    """Every file under home/artifacts (staged temporaries included), relative to that folder."""
    root = home / "artifacts"
    return frozenset(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else frozenset()


def staged_files(home: Path) -> list[str]:
    return [f for f in artifact_files(home) if Path(f).name.startswith(STAGED_MARK)]


def snapshot(cml: Crispml, home: Path) -> Snapshot:
    with cml.store.transaction() as repo:
        scores, labels = repo.ledger.count(), repo.labels.count()
        batches = int(repo.connection.scalar(select(func.count()).select_from(schema.score_batches)) or 0)
    return Snapshot(
        datasets=len(cml.lifecycle.list_datasets()),
        models=len(cml.lifecycle.list_models()),
        scores=scores,
        batches=batches,
        labels=labels,
        files=artifact_files(home),
    )


def reopen(home: Path, database_url: str | None) -> Crispml:
    """A new process's view of the store: opening it runs crash recovery."""
    return crispml.connect(home=home, database_url=database_url, user="tester")


def cli_env(home: Path, database_url: str | None, crash_at: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRISPML_")}
    env["CRISPML_HOME"] = str(home)  # artifacts live under home on both backends
    if database_url is not None:
        env["CRISPML_DATABASE_URL"] = database_url
    if crash_at is not None:
        env["CRISPML_CRASH_AT"] = crash_at
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=300)


def assert_killed(proc: subprocess.CompletedProcess[str] | subprocess.Popen[str]) -> None:
    assert proc.returncode == -signal.SIGKILL, f"expected death by SIGKILL, got {proc.returncode}: {proc.stderr}"


def source(path: Path) -> SourceSpec:
    return SourceSpec(path=str(path))


def setup_dataset(cml: Crispml, small_csv: Path) -> None:
    cml.ingest(source(small_csv), name="ccf")


def setup_champion(cml: Crispml, small_csv: Path) -> None:
    setup_dataset(cml, small_csv)
    model = cml.train("ccf", algorithm="rf", frames="1-6", name="fraud", params=FAST)
    cml.persist(model.ref, alias="champion")


# -- 1. bad input: an error naming the problem, and no change ------------------------------------
@dataclass(frozen=True)
class Ctx:
    cml: Crispml
    small_csv: Path
    tmp: Path


def _garbage_parquet(ctx: Ctx) -> Any:
    path = ctx.tmp / "x.parquet"
    path.write_bytes(b"PAR1 this is not parquet \x00\xff" * 64)
    return ctx.cml.ingest(source(path), name="garbage")


def _records_without_v3(ctx: Ctx) -> Any:
    records = ctx.cml.lifecycle.dataset_frame("ccf").head(5).drop(columns=["V3"])
    return ctx.cml.score("fraud@champion", records=records)


def _labels_with_a_seven(ctx: Ctx) -> Any:
    path = ctx.tmp / "labels.csv"
    path.write_text("record_id,label\nr1,0\nr2,1\nr3,7\n")
    return ctx.cml.label(file=str(path))


def _train(ctx: Ctx, **overrides: Any) -> Any:
    kwargs: dict[str, Any] = {"algorithm": "rf", "frames": "1-6", "name": "fraud", "params": FAST, **overrides}
    return ctx.cml.train("ccf", **kwargs)


BAD_INPUT: dict[str, tuple[Callable[[Ctx], Any], type[CrispmlError], str]] = {
    "ingest-missing-target": (
        lambda c: c.cml.ingest(source(c.small_csv), name="other", target="Nope"),
        InvalidInput,
        "'Nope'",
    ),
    "ingest-unparseable-file": (_garbage_parquet, InvalidInput, "x.parquet"),
    "ingest-missing-file": (lambda c: c.cml.ingest(source(c.tmp / "absent.csv")), NotFound, "absent.csv"),
    "train-frames-out-of-range": (lambda c: _train(c, frames="1-13"), InvalidInput, "13"),
    "train-unknown-algorithm": (lambda c: _train(c, algorithm="xgboostish"), InvalidInput, "xgboostish"),
    "train-unknown-parameter": (lambda c: _train(c, params={"bogus": 1}), InvalidInput, "bogus"),
    "train-invalid-parameter-value": (
        lambda c: _train(c, params={"n_estimators": -5}),
        InvalidInput,
        "n_estimators",
    ),
    "train-invalid-model-name": (lambda c: _train(c, name="9bad name"), InvalidInput, "9bad name"),
    "score-records-lack-column": (_records_without_v3, InvalidInput, "V3"),
    "score-unknown-model": (
        lambda c: c.cml.score("nope@champion", dataset="ccf", frames="7-12"),
        NotFound,
        "nope",
    ),
    "score-idempotency-key-reused": (
        lambda c: c.cml.score("fraud@champion", dataset="ccf", frames="9-12", idempotency_key="first"),
        Conflict,
        "first",
    ),
    "label-value-not-binary": (_labels_with_a_seven, InvalidInput, "'label'"),
}


@pytest.fixture
def ready(cml: Crispml, small_csv: Path) -> Crispml:
    """A store with a dataset, a champion model and one scored batch under the key 'first'."""
    setup_champion(cml, small_csv)
    cml.score("fraud@champion", dataset="ccf", frames="7-8", idempotency_key="first")
    return cml


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_named_and_changes_nothing(
    ready: Crispml, home: Path, small_csv: Path, tmp_path: Path, case: str
) -> None:
    call, error, named = BAD_INPUT[case]
    before = snapshot(ready, home)
    assert before.datasets == before.models == before.batches == 1 and before.scores > 0

    with pytest.raises(error) as caught:
        call(Ctx(ready, small_csv, tmp_path))

    assert type(caught.value) is error
    assert named in caught.value.message
    assert snapshot(ready, home) == before


def test_cli_bad_input_exits_with_its_code_and_writes_nothing(
    cml: Crispml, home: Path, database_url: str | None, small_csv: Path
) -> None:
    before = snapshot(cml, home)
    proc = run_cli(cli_env(home, database_url), "ingest", str(small_csv), "--name", "ccf", "--target", "Nope")
    assert proc.returncode == InvalidInput.exit_code, proc.stderr
    assert "'Nope'" in proc.stderr and "Traceback" not in proc.stderr
    assert snapshot(cml, home) == before


# -- 2. crash consistency: kill -9 at the worst moments --------------------------------------------
def crash_command(point: str, cml: Crispml, small_csv: Path) -> list[str]:
    """Set up what the crashing command needs (through the API) and return that command."""
    kind = point.split(".")[0]
    if kind == "datasets":
        return ["ingest", str(small_csv), "--name", "ccf", "--json"]
    if kind == "models":
        setup_dataset(cml, small_csv)
        return ["train", "ccf", "--frames", "1-6", "--name", "fraud", *FAST_CLI, "--json"]
    setup_champion(cml, small_csv)
    return ["score", "fraud@champion", "--dataset", "ccf", "--frames", "7-12", "--json"]


# A dataset stages its Parquet file; a model its artifact, its ONNX twin, its calibration (the small data's
# holdout has frauds enough) and its reference profile.
STAGED_FILES = {"datasets": 1, "models": 4}


@pytest.mark.parametrize("point", ["datasets.before_commit", "models.before_commit", "scores.before_commit"])
def test_crash_before_commit_leaves_nothing(
    cml: Crispml, home: Path, database_url: str | None, small_csv: Path, point: str
) -> None:
    command = crash_command(point, cml, small_csv)
    before = snapshot(cml, home)

    assert_killed(run_cli(cli_env(home, database_url, crash_at=point), *command))
    if not point.startswith("scores"):
        assert len(staged_files(home)) == STAGED_FILES[point.split(".")[0]], "the killed writer had staged its files"

    with reopen(home, database_url) as again:
        after = snapshot(again, home)
        assert after == before
        assert staged_files(home) == []
        if point.startswith("scores"):  # the store is usable: the same request now commits whole
            assert again.score("fraud@champion", dataset="ccf", frames="7-12").batch.rows == 12_000
            assert snapshot(again, home).scores == before.scores + 12_000


@pytest.mark.parametrize("point", ["datasets.before_promote", "models.before_promote"])
def test_crash_before_promote_is_finished_by_recovery(
    cml: Crispml, home: Path, database_url: str | None, small_csv: Path, point: str
) -> None:
    command = crash_command(point, cml, small_csv)
    before = snapshot(cml, home)

    assert_killed(run_cli(cli_env(home, database_url, crash_at=point), *command))
    assert len(staged_files(home)) == STAGED_FILES[point.split(".")[0]], "rows committed, files not renamed"

    with reopen(home, database_url) as again:
        after = snapshot(again, home)
        assert staged_files(home) == []
        if point.startswith("datasets"):
            assert after.datasets == before.datasets + 1
            (dataset,) = again.lifecycle.list_datasets()
            address = f"datasets/{dataset.sha256}.parquet"
            assert after.files == before.files | {address}
            assert len(again.lifecycle.dataset_frame(dataset.id)) == dataset.rows == 24_000
        else:
            assert after.models == before.models + 1
            (model,) = again.lifecycle.list_models()
            address = f"models/{model.artifact_sha256}{model_codec.SUFFIX[model.artifact_format]}"
            profile = f"models/{model.profile_sha256}.profile.json"
            calibration = f"models/{model.metrics['calibration']['sha256']}.calibration.json"
            made = {address, f"models/{model.twin_sha256}.onnx", profile, calibration}
            assert after.files == before.files | made
            assert again.score(model.ref, dataset="ccf", frames="7-12").batch.rows == 12_000


@pytest.fixture(scope="module")
def large_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "creditcard.csv"
    write_synthetic(path, LARGE_ROWS)
    return path


def test_real_kill_9_mid_ingest_leaves_nothing(
    cml: Crispml, home: Path, database_url: str | None, large_csv: Path
) -> None:
    before = snapshot(cml, home)
    env = cli_env(home, database_url)
    proc = subprocess.Popen(
        [CLI, "ingest", str(large_csv), "--name", "big", "--json"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # A fixed delay would land in the CLI's ~2 s of imports; kill it about a second into the ingest
        # instead, as soon as its Parquet file is being written (reading 285k rows takes that long).
        deadline = time.monotonic() + 120
        while not staged_files(home):
            assert proc.poll() is None, f"ingest ended before it could be killed: {proc.stderr.read()}"  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "ingest never started writing"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:  # a failed wait above must not leave the writer running
            proc.kill()
        proc.wait(timeout=60)
    assert_killed(proc)

    with reopen(home, database_url) as again:
        assert snapshot(again, home) == before
        assert again.lifecycle.list_datasets() == []
        assert artifact_files(home) == frozenset()


# -- regressions found in review ------------------------------------------------------------------
def test_training_a_raw_dataset_with_gaps_names_the_column(cml: Crispml, tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("a,b,Class\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(23)) + "1,,\n")
    raw = cml.ingest(SourceSpec(path=str(path)), slices=2)
    with pytest.raises(InvalidInput, match="target column 'Class' has 1 missing values; prepare"):
        cml.train(raw.id, algorithm="rf", frames="1-2", name="gappy", params=FAST)
    assert cml.lifecycle.list_models() == []


def test_lightgbm_parameter_limits_are_input_errors(cml: Crispml, small_csv: Path) -> None:
    raw = cml.ingest(SourceSpec(path=str(small_csv)))
    with pytest.raises(InvalidInput, match="num_leaves"):
        cml.train(raw.id, algorithm="lgbm", frames="1-6", name="tiny", params={"num_leaves": 1})


def test_empty_record_ids_in_a_label_file_are_refused(cml: Crispml, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("record_id,label\nr1,0\n,1\n")
    with pytest.raises(InvalidInput, match="'record_id' is empty on 1 rows"):
        cml.label(file=str(path))
    with cml.store.transaction() as repo:
        assert repo.labels.count() == 0


def test_a_dataset_file_changed_after_it_was_read_is_refused(cml: Crispml, small_csv: Path) -> None:
    raw = cml.ingest(SourceSpec(path=str(small_csv)), name="ccf")
    cml.prepare(raw.id)  # reads and verifies the file once in this process
    path = cml.store.artifacts.path("datasets", raw.sha256, ".parquet")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte flipped
    path.write_bytes(bytes(data))
    before = snapshot(cml, cml.store.artifacts.root.parent)
    with pytest.raises(IntegrityFailure, match=f"datasets/{raw.sha256}.parquet was modified"):
        cml.prepare(raw.id)
    assert snapshot(cml, cml.store.artifacts.root.parent) == before


def test_a_label_file_with_two_labels_for_one_record_imports_nothing(cml: Crispml, tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("record_id,label\nr1,0\nr2,1\nr1,1\nr3,0\n")
    with pytest.raises(InvalidInput, match="record 'r1' has different labels on rows 1, 3"):
        cml.label(file=str(path))
    with cml.store.reading() as uow:
        assert uow.labels.count() == 0


def test_a_file_name_too_long_for_the_file_system_is_a_clear_input_error(cml: Crispml) -> None:
    with pytest.raises(InvalidInput, match="as a file name"):
        cml.ingest(SourceSpec(path="x" * 300 + ".csv"), name="long")


def test_rows_without_a_target_import_no_label(cml: Crispml, small_csv: Path, tmp_path: Path) -> None:
    lines = small_csv.read_text().splitlines()
    header, rows = lines[0], lines[1:2401]
    gappy = tmp_path / "gappy.csv"
    gappy.write_text(
        "\n".join([header, *(r.rsplit(",", 1)[0] + "," if i % 10 == 0 else r for i, r in enumerate(rows))])
    )
    raw = cml.ingest(SourceSpec(path=str(gappy)), name="gappy", slices=2)
    report = cml.label(dataset=raw.id)
    assert report.imported == 2400 - 240
    with cml.store.reading() as uow:
        assert uow.labels.count() == 2400 - 240
