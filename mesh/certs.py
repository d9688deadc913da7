"""`python -m mesh.certs [DATA_DIR]`: a local CA and one certificate per service for mutual TLS in the mesh.

The embedded single-machine default (``make run``) is secure too: before the services start, this writes under
``<data dir>/tls`` a CA, a certificate + key per service (CN and DNS SAN = the short service name, plus
``localhost`` and ``127.0.0.1`` so loopback addresses verify) and an ``operator`` certificate for local tools
(health checks, the launcher). Idempotent: files that exist are kept, so restarting never rotates a running
mesh's keys. Private keys are written 0600. In production the same file layout comes from cert-manager
(docs/security.md) and this command is not used.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh.settings import SERVICES

#: The certificate local tools present: accepted for health checks, never as a caller of a service's RPCs.
OPERATOR = "operator"
CA_NAME = "ca"
VALID_DAYS = 3650


def _write(path: Path, data: bytes, private: bool) -> None:
    """Write atomically (temp file + rename), a private key 0600 from the moment it exists."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Dungeon Master mesh"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _load_ca(tls_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = tls_dir / f"{CA_NAME}.pem", tls_dir / f"{CA_NAME}.key"
    if cert_path.exists() and key_path.exists():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return cert, key
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("Dungeon Master mesh local CA"))
        .issuer_name(_name("Dungeon Master mesh local CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return cert, key


def _issue(
    name: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    hosts: Iterable[str],
) -> tuple[bytes, bytes]:
    """A leaf certificate for ``name`` (server and client use) signed by the CA: (cert PEM, key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for host in dict.fromkeys([name, "localhost", "127.0.0.1", *hosts]):
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)


def ensure(tls_dir: Path, names: Iterable[str] = (*SERVICES, OPERATOR), hosts: Iterable[str] = ()) -> Path:
    """Create the CA and a certificate per name under ``tls_dir`` where missing; returns ``tls_dir``.

    ``hosts`` are extra SANs (the address services bind to when it is not loopback).
    """
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    ca_cert, ca_key = _load_ca(tls_dir)
    extra = [h for h in hosts if h and h not in ("0.0.0.0", "::")]
    for name in names:
        cert_path, key_path = tls_dir / f"{name}.pem", tls_dir / f"{name}.key"
        if cert_path.exists() and key_path.exists():
            continue
        cert_pem, key_pem = _issue(name, ca_cert, ca_key, extra)
        _write(key_path, key_pem, private=True)
        _write(cert_path, cert_pem, private=False)
    return tls_dir


def main(argv: list[str]) -> int:
    from mesh.settings import get_settings
    from mesh.tls import tls_dir

    settings = get_settings()
    if argv:
        settings = settings.model_copy(update={"data_dir": Path(argv[0]), "tls_dir": ""})
    directory = ensure(tls_dir(settings), hosts=[settings.host])
    print(directory)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
