"""Content-addressed artifact folder: datasets (Parquet) and models, each named by its sha256.

Writing is two-phase so that a crash at any moment leaves nothing half-done:
1. `stage` writes the bytes to a temporary file marked with the writer's pid and hashes them;
2. the caller commits the database row that references the sha256, then `promote`s the file to its
   content address (or `drop`s it if the commit failed).
`recover` runs at start-up: a staged file whose writer is dead is promoted when a committed row
references its hash (the crash fell between commit and rename) and deleted otherwise. The sha256 is
checked on every read; a file already verified by this process is not hashed again while its inode,
size and modification time stay the same (any write to it changes them).

Given a `KeyRing`, new files are written encrypted (see `crispml.storage.encryption`) and still named
and checked by the sha256 of their plaintext; files written before, in plaintext, stay readable.
Without one, files are written and read exactly as they always were, and an encrypted file met on a
read is refused with Unavailable naming the key it needs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import BinaryIO

from crispml.errors import IntegrityFailure, InvalidInput, NotFound, Unavailable
from crispml.processes import identity, may_be_running
from crispml.storage.encryption import (
    KEY_FILE_ENV,
    MAGIC,
    DecryptingReader,
    EncryptingWriter,
    KeyRing,
    file_key_id,
    is_encrypted,
    missing_key,
)

_CHUNK = 1 << 20
STAGED_MARK = ".staged-"


@dataclass(frozen=True)
class EncryptionSweep:
    """What `ArtifactStore.encrypt_at_rest` did."""

    rewritten: int
    rewritten_bytes: int
    already_current: int
    mismatched: list[str]


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
    """A folder of immutable files under `root/<kind>/<sha256><suffix>`, encrypted when given `keys`."""

    def __init__(self, root: Path, keys: KeyRing | None = None) -> None:
        self.root = root
        self.keys = keys
        # path -> (inode, size, mtime) when verified, and whether the file is encrypted
        self._verified: dict[Path, tuple[tuple[int, int, int], bool]] = {}
        self._verified_lock = threading.Lock()

    def path(self, kind: str, sha256: str, suffix: str) -> Path:
        return self.root / kind / f"{sha256}{suffix}"

    def stage(self, kind: str, suffix: str, fill: Callable[[Path | BinaryIO], object]) -> Staged:
        """Let `fill` write a new file, fsync and hash it; on failure nothing is left behind.

        `fill` is given the file's path, or with encryption on a binary file object to write the
        plaintext to (pyarrow and pandas writers take either): plaintext never touches the disk.
        """
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{STAGED_MARK}{identity()}-{time.monotonic_ns()}{suffix}"
        try:
            if self.keys is None:
                fill(path)
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
                return Staged(kind, sha256_file(path), path, suffix)
            with path.open("wb") as handle:
                writer = EncryptingWriter(handle, self.keys)
                fill(writer)  # type: ignore[arg-type]  # a RawIOBase is a binary file
                writer.close()
                os.fsync(handle.fileno())
            return Staged(kind, writer.digest.hexdigest(), path, suffix)
        except BaseException:
            path.unlink(missing_ok=True)
            raise

    def stage_bytes(self, kind: str, suffix: str, data: bytes) -> Staged:
        def fill(target: Path | BinaryIO) -> None:
            if isinstance(target, Path):
                target.write_bytes(data)
            else:
                target.write(data)

        return self.stage(kind, suffix, fill)

    def promote(self, staged: Staged) -> Path:
        """Move a staged file to its content address (an identical file may already be there)."""
        final = self.path(staged.kind, staged.sha256, staged.suffix)
        os.replace(staged.path, final)
        return final

    def drop(self, staged: Staged) -> None:
        staged.path.unlink(missing_ok=True)

    def verified_path(self, kind: str, sha256: str, suffix: str) -> Path:
        """The path of a plaintext artifact after checking its content still hashes to `sha256`.

        An encrypted artifact has no plaintext path: read it with `open_verified`.
        """
        path, encrypted = self._verify(kind, sha256, suffix)
        if encrypted:
            raise IntegrityFailure(f"artifact {kind}/{sha256}{suffix} is encrypted: it has no plaintext path")
        return path

    @contextmanager
    def open_verified(self, kind: str, sha256: str, suffix: str) -> Iterator[Path | BinaryIO]:
        """An artifact to read after checking its content still hashes to `sha256`.

        Yields its path when it is plaintext (today's fast path: readers open it themselves), else a
        seekable decrypting file that holds one segment in memory and checks each segment it reads.
        """
        path, encrypted = self._verify(kind, sha256, suffix)
        if not encrypted:
            yield path
            return
        with DecryptingReader(path, self.keys, f"{kind}/{sha256}{suffix}") as reader:
            yield reader  # type: ignore[misc]  # a RawIOBase is a binary file

    def stamp(self, kind: str, sha256: str, suffix: str) -> tuple[int, int, int] | None:
        """The file's (inode, size, mtime) now, None if it is missing: a change means it was rewritten."""
        try:
            stat = self.path(kind, sha256, suffix).stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_size, stat.st_mtime_ns)

    def get_bytes(self, kind: str, sha256: str, suffix: str) -> bytes:
        """Read an artifact, checking the bytes read are the bytes recorded."""
        path = self.path(kind, sha256, suffix)
        if not path.exists():
            raise NotFound(f"artifact {kind}/{sha256}{suffix} is missing from {self.root}")
        data = path.read_bytes()
        if data.startswith(MAGIC):
            data = self._decrypt(path, f"{kind}/{sha256}{suffix}")
        _check(kind, sha256, suffix, hashlib.sha256(data).hexdigest())
        return data

    def _verify(self, kind: str, sha256: str, suffix: str) -> tuple[Path, bool]:
        """Check an artifact hashes to `sha256` (once per version of the file); its path and whether it is encrypted."""
        path = self.path(kind, sha256, suffix)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise NotFound(f"artifact {kind}/{sha256}{suffix} is missing from {self.root}") from None
        identity = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        with self._verified_lock:
            known = self._verified.get(path)
            if known is not None and known[0] == identity:
                return path, known[1]
        encrypted = is_encrypted(path)
        actual = self._plaintext_sha256(path, f"{kind}/{sha256}{suffix}") if encrypted else sha256_file(path)
        _check(kind, sha256, suffix, actual)
        with self._verified_lock:
            self._verified[path] = (identity, encrypted)
        return path, encrypted

    def _plaintext_sha256(self, path: Path, name: str) -> str:
        digest = hashlib.sha256()
        with DecryptingReader(path, self.keys, name) as reader:
            for segment in reader.segments():
                digest.update(segment)
        return digest.hexdigest()

    def _decrypt(self, path: Path, name: str) -> bytes:
        if self.keys is None:
            raise missing_key(name, path)
        with DecryptingReader(path, self.keys, name) as reader:
            return b"".join(reader.segments())

    def encrypt_at_rest(self) -> EncryptionSweep:
        """Rewrite every file that is plaintext, or encrypted with an older key of the ring, encrypted
        with the current key; each is replaced atomically, and only once its new plaintext hashes to its name.

        Readers holding the old file keep reading it; the next reader verifies the new one. A file whose
        content no longer matches its name is left as it is and listed (loading it fails as before).
        """
        if self.keys is None:
            raise InvalidInput(f"no encryption key is configured: set {KEY_FILE_ENV}", field=KEY_FILE_ENV)
        rewritten, rewritten_bytes, current, mismatched = 0, 0, 0, []
        for path in sorted(self.root.glob("*/*")) if self.root.exists() else ():
            if path.name.startswith(STAGED_MARK) or not path.is_file():
                continue
            if file_key_id(path) == self.keys.current_id:
                current += 1
                continue
            sha256, dot, rest = path.name.partition(".")
            staged = self.stage(path.parent.name, dot + rest, partial(self._copy_plaintext, path))
            if staged.sha256 != sha256:
                self.drop(staged)
                mismatched.append(f"{path.parent.name}/{path.name}")
                continue
            os.replace(staged.path, path)
            rewritten += 1
            rewritten_bytes += path.stat().st_size
        return EncryptionSweep(rewritten, rewritten_bytes, current, mismatched)

    def _copy_plaintext(self, source: Path, target: Path | BinaryIO) -> None:
        assert not isinstance(target, Path)  # a store with keys stages through an encrypting writer
        reader = DecryptingReader(source, self.keys, source.name) if is_encrypted(source) else source.open("rb")
        with reader:
            shutil.copyfileobj(reader, target, _CHUNK)

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
                sha = self._staged_sha256(path)
                if sha is None:  # encrypted with a key this process lacks: we cannot tell, keep it
                    continue
                if sha in referenced:  # the row was committed, the rename was not: finish it
                    os.replace(path, path.with_name(f"{sha}.{suffix}"))
                    continue
            elif name.split(".", 1)[0] in referenced or now - path.stat().st_mtime < orphan_age_s:
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
        return removed

    def _staged_sha256(self, path: Path) -> str | None:
        """A staged file's content address (the sha256 of its plaintext); None if no key we hold opens it."""
        if not is_encrypted(path):
            return sha256_file(path)
        try:
            return self._plaintext_sha256(path, path.name)
        except Unavailable:
            return None
        except IntegrityFailure:
            # A file is staged whole before its row commits: one that fails its tags was cut short
            # by its writer's death, so no row references it.
            return ""


def _check(kind: str, sha256: str, suffix: str, actual: str) -> None:
    if actual != sha256:
        raise IntegrityFailure(
            f"artifact {kind}/{sha256}{suffix} was modified: its sha256 is now {actual}; refusing to load it"
        )


def _writer_may_live(writer: str, age_s: float, orphan_age_s: float) -> bool:
    """Whether the process that staged a file might still commit it; age decides when we cannot tell."""
    running = may_be_running(writer.rsplit("-", 1)[0])
    return age_s < orphan_age_s if running is None else running
