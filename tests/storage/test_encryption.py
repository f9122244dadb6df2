"""Encryption at rest: artifacts written under a key hold no plaintext, read back whole, stay addressed by
their plaintext's sha256, and refuse clearly when the key is missing or wrong or the bytes were changed."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crispml.errors import IntegrityFailure, InvalidInput, Unavailable
from crispml.storage.artifacts import STAGED_MARK, ArtifactStore
from crispml.storage.encryption import (
    HEADER_BYTES,
    MAGIC,
    SEGMENT_BYTES,
    TAG_BYTES,
    KeyRing,
    generate_key,
    key_id,
    parse_key,
)

DATA = b"a model, or near enough " * 100
SHA = hashlib.sha256(DATA).hexdigest()
# Three segments and a bit: enough to swap, drop and truncate segments.
BIG = os.urandom(3 * SEGMENT_BYTES + 1234)
BIG_SHA = hashlib.sha256(BIG).hexdigest()


def ring(*texts: str) -> KeyRing:
    return KeyRing([parse_key(text, "test") for text in texts])


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def store(tmp_path: Path, key: str) -> ArtifactStore:
    return ArtifactStore(tmp_path, ring(key))


def stored(store: ArtifactStore, data: bytes = DATA, kind: str = "models") -> Path:
    return store.promote(store.stage_bytes(kind, ".skops", data))


def read(store: ArtifactStore, data: bytes = DATA, kind: str = "models") -> bytes:
    return store.get_bytes(kind, hashlib.sha256(data).hexdigest(), ".skops")


# -- round trip ------------------------------------------------------------------------------------


def test_an_artifact_is_named_by_its_plaintext_hash_and_reads_back(store: ArtifactStore) -> None:
    path = stored(store)
    assert path.name == f"{SHA}.skops"
    on_disk = path.read_bytes()
    assert on_disk.startswith(MAGIC)
    assert b"a model" not in on_disk
    assert read(store) == DATA
    with store.open_verified("models", SHA, ".skops") as source:
        assert not isinstance(source, Path)
        assert source.read() == DATA


def test_the_same_content_twice_is_one_file_though_each_encryption_differs(store: ArtifactStore) -> None:
    first = store.stage_bytes("models", ".skops", DATA)
    second = store.stage_bytes("models", ".skops", DATA)
    assert first.sha256 == second.sha256 == SHA
    assert first.path.read_bytes() != second.path.read_bytes()  # fresh nonces
    store.promote(first)
    store.promote(second)
    assert [p.name for p in (store.root / "models").iterdir()] == [f"{SHA}.skops"]


@pytest.mark.parametrize("size", [0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 2 * SEGMENT_BYTES])
def test_every_size_round_trips_across_segment_boundaries(store: ArtifactStore, size: int) -> None:
    data = os.urandom(size)
    path = stored(store, data)
    segments = max(1, -(-size // SEGMENT_BYTES))
    assert path.stat().st_size == HEADER_BYTES + size + segments * TAG_BYTES
    assert read(store, data) == data


def test_a_parquet_dataset_is_read_by_column_and_frame_through_the_decrypting_reader(store: ArtifactStore) -> None:
    frame = pd.DataFrame({"frame": [1, 1, 2, 2, 3], "customer_email": ["a@x", "b@x", "c@x", "d@x", "e@x"]})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    staged = store.stage("datasets", ".parquet", lambda target: pq.write_table(table, target))
    raw = store.promote(staged).read_bytes()
    assert b"PAR1" not in raw and b"customer_email" not in raw and b"c@x" not in raw
    with store.open_verified("datasets", staged.sha256, ".parquet") as source:
        back = pq.read_table(source, columns=["customer_email"], filters=[("frame", "in", [2])])
    assert back.column("customer_email").to_pylist() == ["c@x", "d@x"]


def test_a_key_file_rotates_keys_old_files_stay_readable(tmp_path: Path) -> None:
    old, new = generate_key(), generate_key()
    older = ArtifactStore(tmp_path, ring(old))
    stored(older)
    key_file = tmp_path / "keys"
    key_file.write_text(f"# current first\n{new}\n\n{old}\n")
    rotated = ArtifactStore(tmp_path, KeyRing.load(None, key_file))
    assert read(rotated) == DATA
    other = b"written after the rotation"
    path = stored(rotated, other)
    assert path.read_bytes()[len(MAGIC) + 1 : len(MAGIC) + 9].hex() == key_id(parse_key(new, "t"))
    with pytest.raises(Unavailable, match=f"encrypted with key {key_id(parse_key(new, 't'))}"):
        read(older, other)


# -- old files, missing and wrong keys -------------------------------------------------------------


def test_plaintext_files_written_before_encryption_stay_readable(tmp_path: Path, key: str) -> None:
    plain = ArtifactStore(tmp_path)
    stored(plain)
    encrypted = ArtifactStore(tmp_path, ring(key))
    assert read(encrypted) == DATA
    assert encrypted.verified_path("models", SHA, ".skops").read_bytes() == DATA
    with encrypted.open_verified("models", SHA, ".skops") as source:
        assert source == tmp_path / "models" / f"{SHA}.skops"  # plaintext keeps the path fast path


def test_without_a_key_an_encrypted_file_is_refused_naming_the_key(store: ArtifactStore, key: str) -> None:
    stored(store)
    keyless = ArtifactStore(store.root)
    wanted = key_id(parse_key(key, "t"))
    message = f"encrypted with key {wanted} and no encryption key is configured; set CRISPML_ENCRYPTION_KEY_FILE"
    with pytest.raises(Unavailable, match=message):
        read(keyless)
    with pytest.raises(Unavailable, match=message), keyless.open_verified("models", SHA, ".skops"):
        pass


def test_a_wrong_key_is_refused_naming_both_keys(store: ArtifactStore, key: str) -> None:
    stored(store)
    other = generate_key()
    wrong = ArtifactStore(store.root, ring(other))
    wanted, configured = key_id(parse_key(key, "t")), key_id(parse_key(other, "t"))
    with pytest.raises(Unavailable, match=f"key {wanted}, which is not configured \\(configured: {configured}\\)"):
        read(wrong)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [("not base64!", "is not base64 text"), ("c2hvcnQ=", "is 5 bytes, AES-256 needs 32")],
)
def test_a_malformed_key_is_refused_by_its_setting(text: str, complaint: str) -> None:
    with pytest.raises(InvalidInput, match=f"CRISPML_ENCRYPTION_KEY: the encryption key {complaint}"):
        KeyRing.load(text, None)


def test_an_empty_or_missing_key_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "keys"
    empty.write_text("# nothing yet\n")
    with pytest.raises(InvalidInput, match="holds no key"):
        KeyRing.load(None, empty)
    with pytest.raises(InvalidInput, match="CRISPML_ENCRYPTION_KEY_FILE: cannot read"):
        KeyRing.load(None, tmp_path / "absent")
    assert KeyRing.load(None, None) is None


# -- tampering -------------------------------------------------------------------------------------


def rewrite(path: Path, change: bytes) -> None:
    path.write_bytes(change)


def test_a_flipped_ciphertext_bit_fails_the_tag_check(store: ArtifactStore) -> None:
    path = stored(store)
    data = bytearray(path.read_bytes())
    data[HEADER_BYTES + 10] ^= 1
    rewrite(path, bytes(data))
    with pytest.raises(IntegrityFailure, match="failed its authentication check at segment 1 of 1"):
        read(store)


def test_a_changed_header_fails_the_tag_check(store: ArtifactStore) -> None:
    path = stored(store)
    data = bytearray(path.read_bytes())
    data[HEADER_BYTES - 1] ^= 1  # the nonce prefix
    rewrite(path, bytes(data))
    with pytest.raises(IntegrityFailure, match="failed its authentication check"):
        read(store)


def segments_of(path: Path) -> tuple[bytes, list[bytes]]:
    data = path.read_bytes()
    body = data[HEADER_BYTES:]
    size = SEGMENT_BYTES + TAG_BYTES
    return data[:HEADER_BYTES], [body[i : i + size] for i in range(0, len(body), size)]


def test_swapped_segments_fail(store: ArtifactStore) -> None:
    path = stored(store, BIG, "datasets")
    header, parts = segments_of(path)
    assert len(parts) == 4
    parts[0], parts[1] = parts[1], parts[0]
    rewrite(path, header + b"".join(parts))
    with pytest.raises(IntegrityFailure, match="segment 1 of 4: it was modified, truncated or reordered"):
        read(store, BIG, "datasets")


def test_a_dropped_last_segment_fails_though_every_tag_left_is_good(store: ArtifactStore) -> None:
    path = stored(store, BIG, "datasets")
    header, parts = segments_of(path)
    rewrite(path, header + b"".join(parts[:-1]))
    with pytest.raises(IntegrityFailure, match="segment 3 of 3"):
        read(store, BIG, "datasets")


def test_a_truncated_file_fails(store: ArtifactStore) -> None:
    path = stored(store)
    rewrite(path, path.read_bytes()[: HEADER_BYTES + 5])
    with pytest.raises(IntegrityFailure, match="is truncated"):
        read(store)


def test_a_tampered_file_read_by_path_is_refused_before_parquet_sees_it(store: ArtifactStore) -> None:
    path = stored(store, BIG, "datasets")
    with store.open_verified("datasets", BIG_SHA, ".skops") as source:
        assert source.read(10) == BIG[:10]
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    rewrite(path, bytes(data))
    with pytest.raises(IntegrityFailure, match="segment 4 of 4"), store.open_verified("datasets", BIG_SHA, ".skops"):
        pass


# -- big files stream ------------------------------------------------------------------------------


def test_big_files_are_written_and_read_a_segment_at_a_time(store: ArtifactStore) -> None:
    """64 MiB through the writer and the reader with Python's peak allocation under 8 MiB."""
    piece = os.urandom(SEGMENT_BYTES)
    pieces = 64
    digest = hashlib.sha256()
    for _ in range(pieces):
        digest.update(piece)
    tracemalloc.start()
    try:
        staged = store.stage("datasets", ".parquet", lambda target: [target.write(piece) for _ in range(pieces)])
        store.promote(staged)
        _, written_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        back = hashlib.sha256()
        with store.open_verified("datasets", staged.sha256, ".parquet") as source:
            while chunk := source.read(SEGMENT_BYTES // 2):
                back.update(chunk)
        _, read_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert staged.sha256 == digest.hexdigest() == back.hexdigest()
    assert written_peak < 8 * SEGMENT_BYTES
    assert read_peak < 8 * SEGMENT_BYTES


def test_recovery_finishes_an_encrypted_staged_file_by_its_plaintext_hash(store: ArtifactStore) -> None:
    staged = store.stage_bytes("models", ".skops", DATA)
    cut_short = store.stage_bytes("models", ".skops", b"never committed")
    # Writers of unknown identity, long gone by the age rule: one crashed after its commit, one mid-write.
    dead = staged.path.with_name(f"{STAGED_MARK}elsewhere-1.skops")
    half = staged.path.with_name(f"{STAGED_MARK}elsewhere-2.skops")
    os.replace(staged.path, dead)
    half.write_bytes(cut_short.path.read_bytes()[:-3])
    cut_short.path.unlink()
    for path in (dead, half):
        os.utime(path, (0, 0))
    assert store.recover({SHA}) == [half]
    assert read(store) == DATA
    assert sorted(p.name for p in (store.root / "models").iterdir()) == [f"{SHA}.skops"]
