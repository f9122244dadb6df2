"""Content-addressed artifact folder: datasets (Parquet) and models, each named by its sha256.

Writing is two-phase so that a crash at any moment leaves nothing half-done:
1. `stage` writes the bytes to a temporary file marked with the writer's pid and hashes them;
2. the caller commits the database row that references the sha256, then `promote`s the file to its
   content address (or `drop`s it if the commit failed).
`recover` runs at start-up: a staged file whose writer is dead is promoted when a committed row
references its hash (the crash fell between commit and rename) and deleted otherwise. The sha256 is
checked on every read; a file already verified by this process is not hashed again while its inode,
size and modification time stay the same (any write to it changes them).
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

from crispml.errors import IntegrityFailure, NotFound
from crispml.processes import identity, may_be_running

_CHUNK = 1 << 20
STAGED_MARK = ".staged-"


@dataclass(frozen=True)
class Staged:
    kind: str
    sha256: str
    path: Path
    suffix: str


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
        self._verified: dict[Path, tuple[int, int, int]] = {}
        self._verified_lock = threading.Lock()

    def path(self, kind: str, sha256: str, suffix: str) -> Path:
        return self.root / kind / f"{sha256}{suffix}"

    def stage(self, kind: str, suffix: str, fill: Callable[[Path], object]) -> Staged:
        """Let `fill` write a new file, fsync and hash it; on failure nothing is left behind."""
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{STAGED_MARK}{identity()}-{time.monotonic_ns()}{suffix}"
        try:
            fill(path)
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
            return Staged(kind, sha256_file(path), path, suffix)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def stage_bytes(self, kind: str, suffix: str, data: bytes) -> Staged:
        return self.stage(kind, suffix, lambda path: path.write_bytes(data))

    def promote(self, staged: Staged) -> Path:
        """Move a staged file to its content address (an identical file may already be there)."""
        final = self.path(staged.kind, staged.sha256, staged.suffix)
        os.replace(staged.path, final)
        return final

    def drop(self, staged: Staged) -> None:
        staged.path.unlink(missing_ok=True)

    def verified_path(self, kind: str, sha256: str, suffix: str) -> Path:
        """The path of an artifact after checking its content still hashes to `sha256`."""
        path = self.path(kind, sha256, suffix)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise NotFound(f"artifact {kind}/{sha256}{suffix} is missing from {self.root}") from None
        identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._verified_lock:
            if self._verified.get(path) == identity:
                return path
        _check(kind, sha256, suffix, sha256_file(path))
        with self._verified_lock:
            self._verified[path] = identity
        return path

    def get_bytes(self, kind: str, sha256: str, suffix: str) -> bytes:
        """Read an artifact, checking the bytes read are the bytes recorded."""
        path = self.path(kind, sha256, suffix)
        if not path.exists():
            raise NotFound(f"artifact {kind}/{sha256}{suffix} is missing from {self.root}")
        data = path.read_bytes()
        _check(kind, sha256, suffix, hashlib.sha256(data).hexdigest())
        return data

    def recover(self, referenced: Collection[str], *, orphan_age_s: float = 3600.0) -> list[Path]:
        """Finish or undo the writes of dead writers; delete old files no row references.

        Returns the paths removed. Files of live writers, and unreferenced files younger than
        `orphan_age_s`, are left alone: another process may be about to commit their row.
        """
        removed: list[Path] = []
        if not self.root.exists():
            return removed
        now = time.time()
        for path in self.root.glob("*/*"):
            name = path.name
            if name.startswith(STAGED_MARK):
                writer, _, suffix = name[len(STAGED_MARK) :].partition(".")
                if _writer_may_live(writer, now - path.stat().st_mtime, orphan_age_s):
                    continue
                sha = sha256_file(path)
                if sha in referenced:  # the row was committed, the rename was not: finish it
                    os.replace(path, path.with_name(f"{sha}.{suffix}"))
                    continue
            elif name.split(".", 1)[0] in referenced or now - path.stat().st_mtime < orphan_age_s:
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed


def _check(kind: str, sha256: str, suffix: str, actual: str) -> None:
    if actual != sha256:
        raise IntegrityFailure(
            f"artifact {kind}/{sha256}{suffix} was modified: its sha256 is now {actual}; refusing to load it"
        )


def _writer_may_live(writer: str, age_s: float, orphan_age_s: float) -> bool:
    """Whether the process that staged a file might still commit it; age decides when we cannot tell."""
    running = may_be_running(writer.rsplit("-", 1)[0])
    return age_s < orphan_age_s if running is None else running
