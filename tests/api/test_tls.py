"""TLS in transit: `crispml serve --ssl-certfile --ssl-keyfile` answers HTTPS only, and the client and `--remote`
verify it against a CA file (`verify=` or CRISPML_CA_FILE) and refuse it without one. The certificates are made
here, at test time, with `cryptography`: no network and no openssl binary."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from crispml.client import Client
from crispml.errors import InvalidInput, Unavailable
from tests.api.conftest import CRISPML, free_port

CA_USAGE = x509.KeyUsage(
    digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False,
)  # fmt: skip


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed for 127.0.0.1 and localhost: (ca.pem, server.pem, server.key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("crispml test CA"))
        .issuer_name(_name("crispml test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_file, cert_file, key_file


def trusting(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


@pytest.fixture
def certificates(tmp_path: Path) -> tuple[Path, Path, Path]:
    folder = tmp_path / "tls"
    folder.mkdir()
    return make_certificates(folder)


def environment(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CRISPML_HOME": str(home), "CRISPML_USER": "api-tester"}
    env.pop("CRISPML_DATABASE_URL", None)
    env.pop("CRISPML_CA_FILE", None)
    return {**env, **extra}


def serve_tls(
    home: Path, ca: Path, cert: Path, key: Path, *more: str, **env: str
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `crispml serve` over HTTPS; return the process and its https URL once it answers."""
    port = free_port()
    command = [CRISPML, "serve", "--port", str(port), "--log-level", "warning",
               "--ssl-certfile", str(cert), "--ssl-keyfile", str(key), *more]  # fmt: skip
    process = subprocess.Popen(command, env=environment(home, **env))
    url = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited during start-up"
        try:
            if httpx.get(f"{url}/healthz", verify=trusting(ca), timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("the HTTPS server did not answer within 90 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def test_an_https_server_answers_verified_clients_only(
    home: Path, certificates: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = certificates
    process, url = serve_tls(home, ca, cert, key)
    try:
        # The Python client with the CA, by argument and by CRISPML_CA_FILE.
        with Client(url, verify=ca) as client:
            assert client.datasets()["items"] == []
        monkeypatch.setenv("CRISPML_CA_FILE", str(ca))
        with Client(url) as client:
            assert client.datasets()["items"] == []
        monkeypatch.delenv("CRISPML_CA_FILE")
        # Without the CA the server's certificate is not trusted: refused, and the message says what to do.
        with Client(url) as client, pytest.raises(Unavailable, match=r"CERTIFICATE_VERIFY_FAILED.*CRISPML_CA_FILE"):
            client.datasets()
        # Plain HTTP to the TLS port gets no answer.
        with pytest.raises(httpx.TransportError):
            httpx.get(f"http://127.0.0.1:{url.rsplit(':', 1)[1]}/healthz", timeout=5)
        # The CLI's --remote takes the CA from CRISPML_CA_FILE.
        listing = [CRISPML, "datasets", "--remote", url, "--json"]
        trusted = subprocess.run(listing, env=environment(home, CRISPML_CA_FILE=str(ca)), capture_output=True,
                                 text=True, timeout=120)  # fmt: skip
        assert trusted.returncode == 0, trusted.stderr
        untrusted = subprocess.run(listing, env=environment(home), capture_output=True, text=True, timeout=120)
        assert untrusted.returncode == 7 and "CERTIFICATE_VERIFY_FAILED" in untrusted.stdout  # --json: errors too
    finally:
        stop(process)


def test_several_workers_serve_https_and_read_the_encryption_key(
    home: Path, certificates: tuple[Path, Path, Path]
) -> None:
    """The multi-worker path hands TLS options and secret settings (the key, masked when dumped) down."""
    ca, cert, key = certificates
    secret = "7u4Zs1oGJpQ2Rp0mK3cS9l1Wv8bqz2hX5yF0dT6aJ4E="
    process, url = serve_tls(home, ca, cert, key, "--workers", "2", CRISPML_ENCRYPTION_KEY=secret)
    try:
        ready = httpx.get(f"{url}/readyz", verify=trusting(ca), timeout=30)
        assert ready.status_code == 200, ready.text
        ingested = httpx.get(
            f"{url}/crispml/repDataIngest", params={"percentData": 0.05}, verify=trusting(ca), timeout=300
        )
        assert ingested.status_code == 200, ingested.text
    finally:
        stop(process)
    files = [p for p in (home / "artifacts").rglob("*.parquet")]
    assert files and all(not p.read_bytes().startswith(b"PAR1") for p in files)


def test_serve_refuses_a_certificate_without_its_key_or_a_broken_pair(
    home: Path, certificates: tuple[Path, Path, Path]
) -> None:
    ca, cert, _key = certificates
    alone = [CRISPML, "serve", "--port", str(free_port()), "--ssl-certfile", str(cert)]
    answer = subprocess.run(alone, env=environment(home), capture_output=True, text=True, timeout=60)
    assert answer.returncode == 2 and "give both --ssl-certfile and --ssl-keyfile" in answer.stderr
    mismatched = [*alone, "--ssl-keyfile", str(ca)]
    answer = subprocess.run(mismatched, env=environment(home), capture_output=True, text=True, timeout=60)
    assert answer.returncode == 2 and f"cannot use certificate {cert}" in answer.stderr


def test_a_missing_ca_file_is_refused_by_the_client(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the CA file"):
        Client("https://127.0.0.1:1", verify=tmp_path / "absent.pem")
