"""`crispml keys generate`: a key the store accepts, printed or written to a new private file, never overwritten;
`crispml keys encrypt-files`: files written in plaintext, or under an older key, encrypted with the current key."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from crispml.storage.encryption import KeyRing, is_encrypted
from tests.cli.conftest import run


@pytest.fixture
def database_url() -> None:
    """Files are what these commands work on: one store (SQLite) is enough."""
    return None


def test_a_generated_key_is_32_random_bytes_in_base64() -> None:
    first, second = (run(["keys", "generate"], {}).stdout.strip() for _ in range(2))
    assert len(base64.b64decode(first, validate=True)) == 32 and first != second
    assert KeyRing.load(first, None) is not None


def test_a_key_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "crispml.key"
    assert "CRISPML_ENCRYPTION_KEY_FILE=" in run(["keys", "generate", "--file", str(path)], {}).stdout
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = path.read_text()
    assert KeyRing.load(None, path) is not None
    again = run(["keys", "generate", "--file", str(path)], {}, expect=4)
    assert "already exists" in again.text and path.read_text() == key


def test_encrypt_files_encrypts_what_was_written_before_and_rotates_keys(
    store_env: dict[str, str | None], home: Path, small_csv: Path, tmp_path: Path
) -> None:
    env = store_env
    run(["ingest", str(small_csv), "--name", "ccf", "--json"], env)
    run(["train", "ccf", "--frames", "1-6", "--name", "fraud", "--param", "n_estimators=5", "--json"], env)
    before = run(["report", "fraud/1", "--json"], env).json
    files = sorted(p for p in (home / "artifacts").glob("*/*") if p.is_file())
    stray = home / "artifacts" / "datasets" / f"{'0' * 64}.parquet"  # content that is not what it is named
    stray.write_bytes(b"not the file its name says")
    refused = run(["keys", "encrypt-files"], env, expect=2)
    assert "CRISPML_ENCRYPTION_KEY_FILE" in refused.text and not any(is_encrypted(p) for p in files)

    old_key, new_key = tmp_path / "old.key", tmp_path / "new.key"
    run(["keys", "generate", "--file", str(old_key)], {})
    keyed = {**env, "CRISPML_ENCRYPTION_KEY_FILE": str(old_key)}
    swept = run(["keys", "encrypt-files", "--json"], keyed).json
    assert swept["rewritten"] == len(files) and swept["mismatched"] == [f"datasets/{stray.name}"]
    assert all(is_encrypted(p) for p in files) and stray.read_bytes() == b"not the file its name says"
    assert run(["report", "fraud/1", "--json"], keyed).json == before
    assert run(["keys", "encrypt-files", "--json"], keyed).json["rewritten"] == 0

    # A rotation: the new key first in the file, the old one after it, until every file moved over.
    run(["keys", "generate", "--file", str(new_key)], {})
    ring = tmp_path / "ring.key"
    ring.write_text(new_key.read_text() + old_key.read_text())
    assert run(["keys", "encrypt-files", "--json"], {**env, "CRISPML_ENCRYPTION_KEY_FILE": str(ring)}).json[
        "rewritten"
    ] == len(files)
    only_new = {**env, "CRISPML_ENCRYPTION_KEY_FILE": str(new_key)}
    assert run(["report", "fraud/1", "--json"], only_new).json == before
    audit = run(["audit", "list", "--action", "privacy.encrypt", "--json"], only_new).json
    assert audit["total"] == 2 and audit["items"][0]["after"]["rewritten"] == len(files)
