"""The gateway's signing key and certificate: from files named in config, or, for the embedded
development default, a self-signed pair made on first start in the data directory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from gateway.keyfiles import create_once

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningIdentity:
    certificate: x509.Certificate
    key: PrivateKey


def self_signed(
    common_name: str,
    days: int = 365,
    *,
    start: datetime | None = None,
    kind: str = "ec",
    key: PrivateKey | None = None,
) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed pair (for `key` when given). EC P-256 signs many times faster than RSA-2048;
    encryption recipients must be RSA (CMS key transport as `cryptography` builds it)."""
    if key is None:
        key = (
            ec.generate_private_key(ec.SECP256R1())
            if kind == "ec"
            else rsa.generate_private_key(public_exponent=65537, key_size=2048)
        )
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Discharge gateway (development)"),
        ]
    )
    begin = start or datetime.now(UTC) - timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(begin)
        .not_valid_after(begin + timedelta(days=days))
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), True)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def load_identity(cert_file: Path, key_file: Path) -> SigningIdentity:
    cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the signing key must be RSA or EC")
    return SigningIdentity(cert, key)


def identity_files(data_dir: Path, cert_file: Path | None, key_file: Path | None) -> tuple[Path, Path]:
    """The configured certificate and key files, else the development pair's in `data_dir`."""
    if cert_file and key_file:
        return cert_file, key_file
    return data_dir / "dev-signing.crt", data_dir / "dev-signing.key"


def load_or_create(data_dir: Path, cert_file: Path | None, key_file: Path | None) -> SigningIdentity:
    cert_path, key_path = identity_files(data_dir, cert_file, key_file)
    if not (cert_file and key_file) and not cert_path.exists():
        # each file made exactly once, the certificate for the key that won: instances sharing a
        # data directory and starting together end up with the same pair
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        create_once(key_path, pem)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        cert, _ = self_signed("discharge-gateway.dev", key=key)
        create_once(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return load_identity(cert_path, key_path)
