"""Content-addressed artifact folder: datasets (Parquet) and models, each named by its sha256.

Files are written to a temporary name in the same folder, fsynced and renamed into place, so a reader
never sees half a file. The sha256 is checked on every read. A temporary file whose writer died, or a
file no database row references, is swept by `sweep`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from crispml.errors import IntegrityFailure, NotFound

_CHUNK = 1 << 20
TMP_MARK = ".tmp-"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class ArtifactStore:
    """A folder of immutable files under `root/<kind>/<sha256><suffix>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, kind: str) -> Path:
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def path(self, kind: str, sha256: str, suffix: str) -> Path:
        return self.root / kind / f"{sha256}{suffix}"

    def temporary(self, kind: str, suffix: str) -> Path:
        """A fresh temporary path in the kind's folder, marked with this process's id."""
        return self._folder(kind) / f"{TMP_MARK}{os.getpid()}-{time.monotonic_ns()}{suffix}"

    def commit(self, kind: str, temporary: Path, suffix: str) -> tuple[str, Path]:
        """Hash a finished temporary file and move it to its content address; returns (sha256, path)."""
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        sha = sha256_file(temporary)
        final = self.path(kind, sha, suffix)
        os.replace(temporary, final)
        return sha, final

    def write(self, kind: str, suffix: str, fill: Callable[[Path], None]) -> tuple[str, Path]:
        """Let `fill` write a temporary file, then commit it; on any failure nothing is left behind."""
        temporary = self.temporary(kind, suffix)
        try:
            fill(temporary)
            return self.commit(kind, temporary, suffix)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def put_bytes(self, kind: str, suffix: str, data: bytes) -> tuple[str, Path]:
        return self.write(kind, suffix, lambda path: path.write_bytes(data))

    def verified_path(self, kind: str, sha256: str, suffix: str) -> Path:
        """The path of an artifact after checking its content still hashes to `sha256`."""
        path = self.path(kind, sha256, suffix)
        if not path.exists():
            raise NotFound(f"artifact {kind}/{sha256}{suffix} is missing from {self.root}")
        actual = sha256_file(path)
        if actual != sha256:
            raise IntegrityFailure(
                f"artifact {kind}/{sha256}{suffix} was modified: its sha256 is now {actual}; refusing to load it"
            )
        return path

    def get_bytes(self, kind: str, sha256: str, suffix: str) -> bytes:
        """Read an artifact, checking the bytes read are the bytes recorded."""
        path = self.path(kind, sha256, suffix)
        if not path.exists():
            raise NotFound(f"artifact {kind}/{sha256}{suffix} is missing from {self.root}")
        data = path.read_bytes()
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise IntegrityFailure(
                f"artifact {kind}/{sha256}{suffix} was modified: its sha256 is now {actual}; refusing to load it"
            )
        return data

    def remove(self, kind: str, sha256: str, suffix: str) -> None:
        self.path(kind, sha256, suffix).unlink(missing_ok=True)

    def sweep(self, referenced: Iterable[str], *, min_age_s: float = 3600.0) -> list[Path]:
        """Delete temporaries of dead writers, and unreferenced artifacts older than `min_age_s`.

        The age guard keeps a file another process has just written, but not yet recorded, safe.
        """
        keep = set(referenced)
        removed: list[Path] = []
        if not self.root.exists():
            return removed
        now = time.time()
        for path in self.root.glob("*/*"):
            name = path.name
            if name.startswith(TMP_MARK):
                pid = int(name[len(TMP_MARK) :].split("-", 1)[0] or 0)
                if _alive(pid) and pid != os.getpid():
                    continue
                if pid == os.getpid():
                    continue
            elif name.split(".", 1)[0] in keep or now - path.stat().st_mtime < min_age_s:
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
