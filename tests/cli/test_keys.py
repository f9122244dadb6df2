"""`crispml keys generate`: a key the store accepts, printed or written to a new private file, never overwritten."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

from crispml.storage.encryption import KeyRing
from tests.cli.conftest import run


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
