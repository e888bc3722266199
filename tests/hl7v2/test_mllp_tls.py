"""MLLP over TLS, and mutual TLS: a client without a certificate from the configured CA is refused."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.hl7v2.framing import frame, read_frame
from gateway.app import build_app
from gateway.config import ConfigError
from tests.conftest import settings_for
from tests.hl7_builders import adt


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    cn: str,
    issuer_cert: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey | None,
    *,
    ca: bool = False,
    san: str | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    path.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca, ca_key = _issue("Test CA", None, None, ca=True)
    server, server_key = _issue("localhost", ca, ca_key, san="localhost")
    client, client_key = _issue("DIPS Sykehuset Innlandet", ca, ca_key)
    _write(tmp_path / "ca", ca)
    _write(tmp_path / "server", server, server_key)
    _write(tmp_path / "client", client, client_key)
    return tmp_path


async def _send(port: int, context: ssl.SSLContext) -> bytes | None:
    reader, writer = await asyncio.open_connection("localhost", port, ssl=context)
    writer.write(frame(adt("A01", "TLS1").encode()))
    await writer.drain()
    ack = await read_frame(reader, 1 << 20)
    writer.close()
    return ack


async def test_mutual_tls(pki: Path, tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        mllp_tls_cert=pki / "server.crt",
        mllp_tls_key=pki / "server.key",
        mllp_tls_client_ca=pki / "ca.crt",
    )
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        with_cert = ssl.create_default_context(cafile=pki / "ca.crt")
        with_cert.load_cert_chain(pki / "client.crt", pki / "client.key")
        ack = await _send(settings.mllp_port, with_cert)
        assert ack is not None and b"MSA|AA|TLS1" in ack
        without = ssl.create_default_context(cafile=pki / "ca.crt")
        try:  # TLS 1.3 may report the refusal only at the first read, as a closed stream
            refused = await _send(settings.mllp_port, without) is None
        except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
            refused = True
        assert refused
        async with aiohttp.ClientSession() as session, session.get(str(server.make_url("/health"))) as resp:
            assert resp.status == 200  # and the gateway still serves
    finally:
        await server.close()


async def _send_raw(port: int, context: ssl.SSLContext, message: str) -> bytes | None:
    reader, writer = await asyncio.open_connection("localhost", port, ssl=context)
    writer.write(frame(message.encode()))
    await writer.drain()
    try:
        return await read_frame(reader, 1 << 20)
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
        return None
    finally:
        writer.close()


async def test_client_certificates_map_to_sending_institutions(pki: Path, tmp_path: Path) -> None:
    """A mapped client may send only for its institution (MSH-4; AR otherwise); an unmapped client
    with a valid certificate from the same CA is disconnected without an answer."""
    ca, ca_key = _issue("Test CA 2", None, None, ca=True)
    _write(pki / "ca2", ca)
    mapped, mapped_key = _issue("DIPS Sykehuset Innlandet", ca, ca_key)
    stranger, stranger_key = _issue("Some other system", ca, ca_key)
    _write(pki / "mapped", mapped, mapped_key)
    _write(pki / "stranger", stranger, stranger_key)
    (tmp_path / "senders.yaml").write_text('"DIPS Sykehuset Innlandet": "8000001"\n')
    settings = settings_for(
        tmp_path,
        mllp_tls_cert=pki / "server.crt",
        mllp_tls_key=pki / "server.key",
        mllp_tls_client_ca=pki / "ca2.crt",
        mllp_client_senders=tmp_path / "senders.yaml",
    )
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:

        def client(name: str) -> ssl.SSLContext:
            context = ssl.create_default_context(cafile=pki / "ca.crt")
            context.load_cert_chain(pki / f"{name}.crt", pki / f"{name}.key")
            return context

        ack = await _send_raw(settings.mllp_port, client("mapped"), adt("A01", "OWN1"))
        assert ack is not None and b"MSA|AA|OWN1" in ack
        department = adt("A01", "DEP1").replace("8000001^8000001^HER", "8000011^8000011^HER")
        ack = await _send_raw(settings.mllp_port, client("mapped"), department)
        assert ack is not None and b"MSA|AA|DEP1" in ack  # its own department
        other = adt("A01", "OUS1").replace("8000001^8000001^HER", "8000002^8000002^HER")
        ack = await _send_raw(settings.mllp_port, client("mapped"), other)
        assert ack is not None and b"MSA|AR|OUS1" in ack and b"ERR|" in ack
        assert await _send_raw(settings.mllp_port, client("stranger"), adt("A01", "X1")) is None
    finally:
        await server.close()


def test_a_sender_map_without_mutual_tls_is_refused(tmp_path: Path) -> None:
    """Mapping certificates to senders without requiring certificates would map nothing: refused."""
    (tmp_path / "senders.yaml").write_text('"x": "8000001"\n')
    with pytest.raises(ConfigError, match="mutual TLS"):
        build_app(settings_for(tmp_path, mllp_client_senders=tmp_path / "senders.yaml"))
