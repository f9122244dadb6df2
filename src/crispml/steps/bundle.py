"""A promotion bundle: one model version and everything that explains it, signed, in one zip file.

Layout: `manifest.json` (the model row, its report, lineage, pipeline file, provenance, and the sha256 of
every file), `signature.json` (HMAC-SHA256 of the manifest's exact bytes under the promotion key shared by
the environments, and the key's id), and `files/<name>` for each artifact. The signature covers the
manifest, the manifest covers every file by its sha256, so one check of each proves the whole bundle.

HMAC rather than Ed25519: every environment both receives and sends bundles (QA imports from dev and
exports to prod), so each would hold a private key and its peers' public keys anyway; one shared secret,
rotated as one, is what the deployments already handle (like the API keys), and needs no extra library.

Opening a bundle reads it in memory and checks everything before returning; nothing is written here.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from crispml.errors import InvalidInput

FORMAT = "crispml-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "signature.json"
FILES = "files/"
MAX_BUNDLE_BYTES = 2 * 1024**3
"""The most a bundle's files may expand to (a zip bomb is refused before it is read)."""


@dataclass(frozen=True)
class OpenedBundle:
    """A bundle whose signature and every file hash were checked."""

    manifest: dict[str, Any]
    files: dict[str, bytes]
    sha256: str
    """The sha256 of the bundle file as received."""
    key_id: str


def key_id(key: bytes) -> str:
    """A public name of a promotion key (the first 16 hex digits of its sha256): which key signed a bundle."""
    return hashlib.sha256(b"crispml-promotion-key:" + key).hexdigest()[:16]


def build_bundle(manifest: dict[str, Any], files: dict[str, bytes], key: bytes) -> bytes:
    """The zip bytes of a signed bundle of `manifest` (to which the files' sha256 are added) and `files`."""
    body = {
        "format": FORMAT,
        **manifest,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    manifest_bytes = json.dumps(body, sort_keys=True, indent=1, default=str).encode()
    signature = {
        "algorithm": "HMAC-SHA256",
        "key_id": key_id(key),
        "signature": hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest(),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(MANIFEST, manifest_bytes)
        archive.writestr(SIGNATURE, json.dumps(signature, indent=1))
        for name, data in sorted(files.items()):
            archive.writestr(FILES + name, data)
    return out.getvalue()


def open_bundle(data: bytes, key: bytes) -> OpenedBundle:
    """Check a bundle's signature under `key`, then every file's sha256; IntegrityFailure naming what is wrong."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = {info.filename: info for info in archive.infolist()}
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidInput(f"the bundle is not a zip file: {exc}", field="bundle") from None
    if MANIFEST not in entries or SIGNATURE not in entries:
        raise InvalidInput("the bundle is unsigned or incomplete: it lacks manifest.json or signature.json")
    if sum(info.file_size for info in entries.values()) > MAX_BUNDLE_BYTES:
        raise InvalidInput(f"the bundle expands to more than {MAX_BUNDLE_BYTES} bytes", field="bundle")
    with archive:
        manifest_bytes = _read(archive, MANIFEST)
        signature = _json(_read(archive, SIGNATURE), SIGNATURE)
        ours = key_id(key)
        expected = hmac.new(key, manifest_bytes, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(str(signature.get("signature", "")), expected):
            if signature.get("key_id") != ours:
                raise InvalidInput(
                    f"the bundle is signed with another promotion key (key id {signature.get('key_id')}, this "
                    f"environment's is {ours}); refusing it, nothing was imported"
                )
            raise InvalidInput(
                "the bundle's manifest does not match its signature: it was altered; nothing was imported"
            )
        manifest = _json(manifest_bytes, MANIFEST)
        if manifest.get("format") != FORMAT:
            raise InvalidInput(f"the bundle's format is {manifest.get('format')!r}, not {FORMAT!r}", field="bundle")
        declared: dict[str, str] = manifest.get("files") or {}
        present = {name[len(FILES) :] for name in entries if name.startswith(FILES)}
        if present != set(declared):
            raise InvalidInput(
                f"the bundle's files {sorted(present)} are not the files its manifest lists {sorted(declared)}"
            )
        files = {}
        for name, sha256 in declared.items():
            content = _read(archive, FILES + name)
            actual = hashlib.sha256(content).hexdigest()
            if actual != sha256:
                raise InvalidInput(
                    f"the bundle's file {name} was altered: its sha256 is {actual}, the signed manifest says "
                    f"{sha256}; nothing was imported"
                )
            files[name] = content
    return OpenedBundle(manifest, files, hashlib.sha256(data).hexdigest(), ours)


def _read(archive: zipfile.ZipFile, name: str) -> bytes:
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:  # a CRC error is a BadZipFile
        raise InvalidInput(f"the bundle's {name} cannot be read ({exc}): it was altered or cut short") from None


def _json(data: bytes, name: str) -> dict[str, Any]:
    try:
        found = json.loads(data)
    except ValueError:
        raise InvalidInput(f"the bundle's {name} is not JSON") from None
    if not isinstance(found, dict):
        raise InvalidInput(f"the bundle's {name} is not a JSON object")
    return found
