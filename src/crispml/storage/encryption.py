"""Encryption at rest for artifact files: AES-256-GCM in authenticated segments.

An encrypted artifact is a header followed by segments:

    header   = MAGIC (8) | version (1) | key id (8) | segment size (4, big-endian) | nonce prefix (7)
    segment  = AES-GCM(key, nonce = prefix | index (4, big-endian) | last (1), plaintext[<= size], aad = header)

Each segment carries its own tag, so a reader holds one segment in memory and can seek: a Parquet
file is read column by column through `DecryptingReader` without a second full copy. The index and
the last-segment flag are part of every nonce (the STREAM construction), so swapping, dropping,
repeating or appending segments fails a tag check just as a flipped bit does. The header is
authenticated too (it is every segment's associated data).

The key id names a key without revealing it (an HMAC of a fixed label under the key), so a store
told the wrong key, or none, says which key the file needs instead of failing a tag check.
Artifacts stay addressed by the sha256 of their plaintext; this module only changes their bytes on disk.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import os
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from crispml.errors import IntegrityFailure, InvalidInput, Unavailable

MAGIC = b"\x89CMLENC\n"  # starts no Parquet, zip (skops), LightGBM text or ONNX file
VERSION = 1
KEY_BYTES = 32
TAG_BYTES = 16
SEGMENT_BYTES = 1 << 20
_HEADER = struct.Struct(">8sB8sI7s")
HEADER_BYTES = _HEADER.size
KEY_ENV = "CRISPML_ENCRYPTION_KEY"
KEY_FILE_ENV = "CRISPML_ENCRYPTION_KEY_FILE"


def generate_key() -> str:
    """A new random key, base64 text of 32 bytes, as `CRISPML_ENCRYPTION_KEY` and key files hold it."""
    return base64.b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def key_id(key: bytes) -> str:
    """A key's public name: 16 hex digits that identify it and reveal nothing of it."""
    return hmac.new(key, b"crispml artifact key id", hashlib.sha256).hexdigest()[:16]


def parse_key(text: str, origin: str) -> bytes:
    """The 32 bytes a base64 key text stands for; InvalidInput naming `origin` otherwise."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{origin}: the encryption key is not base64 text", field=origin) from None
    if len(key) != KEY_BYTES:
        raise InvalidInput(
            f"{origin}: the encryption key is {len(key)} bytes, AES-256 needs {KEY_BYTES} "
            "(make one with `crispml keys generate`)",
            field=origin,
        )
    return key


class KeyRing:
    """The keys a store knows: the first encrypts new files, every one decrypts (old keys after a rotation)."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise InvalidInput("an encryption key ring needs at least one key")
        self.current = keys[0]
        self.current_id = key_id(keys[0])
        self._by_id = {key_id(key): AESGCM(key) for key in keys}
        self.encrypting = self._by_id[self.current_id]
        """The cipher new files are written with."""

    @classmethod
    def load(cls, key_text: str | None, key_file: Path | None) -> KeyRing | None:
        """The key ring the settings name, or None when none is configured (files stay plaintext).

        A key file holds one base64 key per line (blank lines and `#` comments ignored); the first
        line is the current key. `CRISPML_ENCRYPTION_KEY`, when set too, becomes the current key.
        """
        keys: list[bytes] = []
        if key_text:
            keys.append(parse_key(key_text, KEY_ENV))
        if key_file is not None:
            try:
                lines = key_file.read_text().splitlines()
            except OSError as exc:
                raise InvalidInput(
                    f"{KEY_FILE_ENV}: cannot read {key_file}: {exc.strerror or exc}", field=KEY_FILE_ENV
                ) from None
            keys.extend(
                parse_key(line, f"{KEY_FILE_ENV} line {number}")
                for number, line in enumerate(lines, 1)
                if line.strip() and not line.lstrip().startswith("#")
            )
            if not keys:
                raise InvalidInput(f"{KEY_FILE_ENV}: {key_file} holds no key", field=KEY_FILE_ENV)
        return cls(keys) if keys else None

    def cipher(self, wanted: str, name: str) -> AESGCM:
        """The cipher of key `wanted`; Unavailable naming it when this ring lacks it."""
        cipher = self._by_id.get(wanted)
        if cipher is None:
            raise Unavailable(
                f"artifact {name} is encrypted with key {wanted}, which is not configured "
                f"(configured: {', '.join(sorted(self._by_id))}); set {KEY_FILE_ENV} or {KEY_ENV} to that key"
            )
        return cipher


def is_encrypted(path: Path) -> bool:
    """Whether the file at `path` starts with this module's header."""
    with path.open("rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def file_key_id(path: Path) -> str | None:
    """The id of the key the file at `path` is encrypted with; None for a plaintext file."""
    with path.open("rb") as handle:
        header = handle.read(HEADER_BYTES)
    if not header.startswith(MAGIC) or len(header) < HEADER_BYTES:
        return None
    return _HEADER.unpack(header)[2].hex()


def missing_key(name: str, path: Path) -> Unavailable:
    """The error for an encrypted file met by a store with no key configured."""
    with path.open("rb") as handle:
        header = handle.read(HEADER_BYTES)
    wanted = _HEADER.unpack(header)[2].hex() if len(header) == HEADER_BYTES else "unknown"
    return Unavailable(
        f"artifact {name} is encrypted with key {wanted} and no encryption key is configured; "
        f"set {KEY_FILE_ENV} or {KEY_ENV}"
    )


class EncryptingWriter(io.RawIOBase):
    """A write-only file that encrypts what it is given into `handle`, hashing the plaintext as it goes.

    `close()` writes the last segment; a file abandoned before `close()` fails its reads (no last
    segment), so a half-written artifact can never pass for a whole one.
    """

    def __init__(self, handle: BinaryIO, keys: KeyRing, segment_bytes: int = SEGMENT_BYTES) -> None:
        super().__init__()
        self._handle = handle
        self._cipher = keys.encrypting
        self._segment_bytes = segment_bytes
        self._prefix = os.urandom(7)
        self._header = _HEADER.pack(MAGIC, VERSION, bytes.fromhex(keys.current_id), segment_bytes, self._prefix)
        handle.write(self._header)
        self._pending = bytearray()
        self._index = 0
        self._written = 0
        self.digest = hashlib.sha256()
        """The sha256 of the plaintext written so far."""

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._written

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self._pending += view
        self._written += len(view)
        # A full segment is written only once more follows: the last one must carry the last flag.
        while len(self._pending) > self._segment_bytes:
            self._seal(bytes(self._pending[: self._segment_bytes]), last=False)
            del self._pending[: self._segment_bytes]
        return len(view)

    def close(self) -> None:
        if not self.closed:
            self._seal(bytes(self._pending), last=True)
            self._pending.clear()
            self._handle.flush()
        super().close()

    def _seal(self, plaintext: bytes, *, last: bool) -> None:
        nonce = _nonce(self._prefix, self._index, last)
        self._handle.write(self._cipher.encrypt(nonce, plaintext, self._header))
        self._index += 1


class DecryptingReader(io.RawIOBase):
    """A seekable read-only view of an encrypted file's plaintext; one segment in memory at a time.

    Every segment read is checked against its tag: IntegrityFailure names the file and the segment.
    """

    def __init__(self, path: Path, keys: KeyRing | None, name: str) -> None:
        super().__init__()
        self._name = name
        self._handle = path.open("rb")
        try:
            header = self._handle.read(HEADER_BYTES)
            if len(header) < HEADER_BYTES or not header.startswith(MAGIC):
                raise IntegrityFailure(f"artifact {name} has a damaged encryption header; refusing to load it")
            _, version, wanted, self._segment_bytes, self._prefix = _HEADER.unpack(header)
            if version != VERSION:
                raise IntegrityFailure(f"artifact {name} is encrypted in unknown format version {version}")
            if keys is None:
                raise missing_key(name, path)
            self._cipher = keys.cipher(wanted.hex(), name)
            self._header = header
            body = os.fstat(self._handle.fileno()).st_size - HEADER_BYTES
            sealed = self._segment_bytes + TAG_BYTES
            self._segments = -(-body // sealed)
            last = body - (self._segments - 1) * sealed
            if self._segment_bytes == 0 or self._segments == 0 or last < TAG_BYTES:
                raise IntegrityFailure(f"artifact {name} is truncated; refusing to load it")
            self.size = body - self._segments * TAG_BYTES
        except BaseException:
            self._handle.close()
            raise
        self._position = 0
        self._cached_index = -1
        self._cached = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        target = memoryview(buffer).cast("B")
        done = 0
        while done < len(target) and self._position < self.size:
            index, within = divmod(self._position, self._segment_bytes)
            segment = self._segment(index)
            count = min(len(target) - done, len(segment) - within)
            target[done : done + count] = segment[within : within + count]
            done += count
            self._position += count
        return done

    def segments(self) -> Iterator[bytes]:
        """Every segment's plaintext in order (each checked), for hashing or copying a whole file."""
        for index in range(self._segments):
            yield self._segment(index)

    def close(self) -> None:
        if not self.closed:
            self._handle.close()
            self._cached = b""
        super().close()

    def _segment(self, index: int) -> bytes:
        if index != self._cached_index:
            sealed = self._segment_bytes + TAG_BYTES
            self._handle.seek(HEADER_BYTES + index * sealed)
            data = self._handle.read(sealed)
            nonce = _nonce(self._prefix, index, index == self._segments - 1)
            try:
                self._cached = self._cipher.decrypt(nonce, data, self._header)
            except InvalidTag:
                raise IntegrityFailure(
                    f"artifact {self._name} failed its authentication check at segment {index + 1} of "
                    f"{self._segments}: it was modified, truncated or reordered; refusing to load it"
                ) from None
            self._cached_index = index
        return self._cached


def _nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")
