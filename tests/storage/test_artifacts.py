"""The artifact folder: two-phase writes, reads that refuse a tampered file, and recovery after a crash."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from crispml.errors import IntegrityFailure, NotFound
from crispml.processes import identity
from crispml.storage.artifacts import STAGED_MARK, ArtifactStore, sha256_file

DATA = b"parquet bytes, or near enough"
SHA = hashlib.sha256(DATA).hexdigest()
HOUR = 3600.0


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def stored(store: ArtifactStore, data: bytes = DATA) -> Path:
    return store.promote(store.stage_bytes("datasets", ".parquet", data))


# -- writing --------------------------------------------------------------------------------------


def test_a_staged_file_is_hashed_but_not_yet_at_its_address(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    staged = store.stage_bytes("datasets", ".parquet", DATA)
    assert staged.sha256 == SHA
    assert staged.path.read_bytes() == DATA
    assert staged.path.name.startswith(STAGED_MARK)
    assert not store.path("datasets", SHA, ".parquet").exists()
    with pytest.raises(NotFound, match=f"artifact datasets/{SHA}.parquet is missing"):
        store.verified_path("datasets", SHA, ".parquet")


def test_promote_moves_the_file_to_its_content_address(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    staged = store.stage_bytes("models", ".skops", DATA)
    final = store.promote(staged)
    assert final == tmp_path / "models" / f"{SHA}.skops"
    assert files(tmp_path) == [f"models/{SHA}.skops"]
    assert store.get_bytes("models", SHA, ".skops") == DATA
    assert store.verified_path("models", SHA, ".skops") == final


def test_the_same_content_twice_is_one_file(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    assert stored(store) == stored(store)
    assert files(tmp_path) == [f"datasets/{SHA}.parquet"]


def test_drop_leaves_nothing_behind(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    store.drop(store.stage_bytes("datasets", ".parquet", DATA))
    assert files(tmp_path) == []


def test_a_writer_that_fails_leaves_nothing_behind(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)

    def half_write(path: Path) -> None:
        path.write_bytes(DATA[:5])
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.stage("datasets", ".parquet", half_write)
    assert files(tmp_path) == []


def test_a_file_written_by_a_library_is_staged_like_bytes(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    staged = store.stage("models", ".txt", lambda path: path.write_text("tree\n"))
    assert staged.sha256 == hashlib.sha256(b"tree\n").hexdigest() == sha256_file(staged.path)


# -- reading --------------------------------------------------------------------------------------


def test_a_tampered_file_is_refused_on_every_read(tmp_path: Path) -> None:
    path = stored(ArtifactStore(tmp_path))
    path.write_bytes(DATA.upper())  # same size, other content
    store = ArtifactStore(tmp_path)
    with pytest.raises(IntegrityFailure, match=f"artifact datasets/{SHA}.parquet was modified"):
        store.verified_path("datasets", SHA, ".parquet")
    with pytest.raises(IntegrityFailure, match="refusing to load it"):
        store.get_bytes("datasets", SHA, ".parquet")


def test_a_file_tampered_after_it_was_verified_is_refused(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    path = stored(store)
    store.verified_path("datasets", SHA, ".parquet")
    with path.open("ab") as handle:
        handle.write(b"!")
    with pytest.raises(IntegrityFailure):
        store.verified_path("datasets", SHA, ".parquet")


def test_a_replaced_file_is_checked_again(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    path = stored(store)
    store.verified_path("datasets", SHA, ".parquet")
    forged = tmp_path / "forged"
    forged.write_bytes(DATA.upper())
    os.replace(forged, path)  # a new inode at the same address
    with pytest.raises(IntegrityFailure):
        store.verified_path("datasets", SHA, ".parquet")


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    with pytest.raises(NotFound, match="missing"):
        store.get_bytes("models", SHA, ".skops")


# -- recovery -------------------------------------------------------------------------------------

_DEAD_WRITER = """
import sys
from pathlib import Path
from crispml.storage.artifacts import ArtifactStore
store = ArtifactStore(Path(sys.argv[1]))
for data in (b"committed", b"abandoned"):
    store.stage_bytes("datasets", ".parquet", data)
"""


def stage_in_a_process_that_dies(root: Path) -> None:
    """Stage two files in a child process that exits before promoting either (a crash, as far as we know)."""
    subprocess.run([sys.executable, "-c", _DEAD_WRITER, str(root)], check=True, env=os.environ.copy())


def test_recovery_finishes_committed_writes_and_removes_abandoned_ones(tmp_path: Path) -> None:
    stage_in_a_process_that_dies(tmp_path)
    committed = hashlib.sha256(b"committed").hexdigest()
    assert len(files(tmp_path)) == 2
    removed = ArtifactStore(tmp_path).recover({committed})
    assert files(tmp_path) == [f"datasets/{committed}.parquet"]
    assert [p.name.startswith(STAGED_MARK) for p in removed] == [True]
    assert ArtifactStore(tmp_path).get_bytes("datasets", committed, ".parquet") == b"committed"


def test_recovery_leaves_the_files_of_a_live_writer_alone(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    staged = store.stage_bytes("datasets", ".parquet", DATA)
    assert identity() in staged.path.name
    age(staged.path, 10 * HOUR)
    assert store.recover(set(), orphan_age_s=0) == []
    assert staged.path.exists()  # this process may still commit its row


def test_a_writer_on_another_host_is_judged_by_the_files_age(tmp_path: Path) -> None:
    folder = tmp_path / "datasets"
    folder.mkdir()
    young = folder / f"{STAGED_MARK}0badcafe-123-456-1.parquet"
    old = folder / f"{STAGED_MARK}0badcafe-123-456-2.parquet"
    young.write_bytes(b"young")
    old.write_bytes(b"old")
    age(old, 2 * HOUR)
    assert ArtifactStore(tmp_path).recover(set(), orphan_age_s=HOUR) == [old]
    assert young.exists()


def test_recovery_removes_old_unreferenced_files_only(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path)
    kept = stored(store, b"referenced")
    young = stored(store, b"young orphan")
    orphan = stored(store, b"old orphan")
    age(kept, 2 * HOUR)
    age(orphan, 2 * HOUR)
    referenced = {hashlib.sha256(b"referenced").hexdigest()}
    assert store.recover(referenced, orphan_age_s=HOUR) == [orphan]
    assert kept.exists() and young.exists() and not orphan.exists()


def test_recovery_of_a_folder_never_created_is_a_no_op(tmp_path: Path) -> None:
    assert ArtifactStore(tmp_path / "absent").recover(set()) == []
    assert not (tmp_path / "absent").exists()


# -- containment ----------------------------------------------------------------------------------


def test_reads_writes_and_recovery_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    stranger = outside / "notes.parquet"
    stranger.write_bytes(b"not ours")
    age(stranger, 10 * HOUR)
    loose = tmp_path / "loose.parquet"
    loose.write_bytes(b"not ours either")
    age(loose, 10 * HOUR)

    store = ArtifactStore(root)
    final = stored(store)
    assert final.resolve().is_relative_to(root.resolve())
    assert store.path("models", SHA, ".skops").is_relative_to(root)
    store.recover(set(), orphan_age_s=0)
    assert stranger.exists() and loose.exists()


def test_an_address_that_leads_out_of_the_root_never_yields_that_file(tmp_path: Path) -> None:
    # A name is only good if the content hashes to it, so no path outside the root can pass for an artifact.
    secret = tmp_path / "secret.parquet"
    secret.write_bytes(DATA)
    store = ArtifactStore(tmp_path / "artifacts")
    stored(store)  # the folder exists, so the path below does lead to the secret
    assert store.path("datasets", "../../secret", ".parquet").resolve() == secret.resolve()
    with pytest.raises(IntegrityFailure):
        store.get_bytes("datasets", "../../secret", ".parquet")
    with pytest.raises(IntegrityFailure):
        store.verified_path("datasets", "../../secret", ".parquet")
    assert secret.read_bytes() == DATA
