"""CMS signing, encryption, decryption and verification of outbound payloads.

The gateway signs every payload it delivers (a detached SignedData over the exact bytes, with
its certificate inside) and, for a subscriber that registered a certificate, encrypts the
payload to it (EnvelopedData, AES-256). Building and decrypting are `cryptography`'s; it has no
CMS verification, so `verify` reads the SignedData with asn1crypto and checks the signature over
the signed attributes with `cryptography`, as RFC 5652 §5.4 says.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7


class ProtectionError(Exception):
    """A payload failed a check; `code` says which, for the subscriber's error handling."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code


def sign_detached(
    payload: bytes, certificate: x509.Certificate, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
) -> bytes:
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(payload)
        .add_signer(certificate, key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
    )


def encrypt(payload: bytes, recipient: x509.Certificate) -> bytes:
    return (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(payload)
        .add_recipient(recipient)
        .set_content_encryption_algorithm(pkcs7.algorithms.AES256)
        .encrypt(serialization.Encoding.DER, [])
    )


def decrypt(envelope: bytes, certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> bytes:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ProtectionError("wrong-key", "decryption needs the RSA key the payload was encrypted to")
    try:
        return pkcs7.pkcs7_decrypt_der(envelope, certificate, key, [])
    except ValueError as exc:
        raise ProtectionError("wrong-key", f"cannot decrypt with this key ({exc})") from None


def verify(payload: bytes, signature: bytes, trusted: x509.Certificate, at: datetime | None = None) -> None:
    """Raise ProtectionError unless `signature` is the trusted signer's, valid now, over `payload`."""
    try:
        signed = cms.ContentInfo.load(signature)["content"]
        signer = signed["signer_infos"][0]
        attrs = signer["signed_attrs"]
        certs = [x509.load_der_x509_certificate(c.chosen.dump()) for c in signed["certificates"]]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ProtectionError("malformed", f"not a CMS SignedData ({type(exc).__name__})") from None
    signer_cert = next(
        (c for c in certs if c.fingerprint(hashes.SHA256()) == trusted.fingerprint(hashes.SHA256())), None
    )
    if signer_cert is None:
        raise ProtectionError("untrusted", "signed by a certificate other than the trusted one")
    when = at or datetime.now(UTC)
    if not signer_cert.not_valid_before_utc <= when <= signer_cert.not_valid_after_utc:
        raise ProtectionError("expired", "the signing certificate is not valid at this time")
    digests = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
    if not digests or digests[0] != hashlib.sha256(payload).digest():
        raise ProtectionError("tampered", "the payload does not match what was signed")
    to_verify = b"\x31" + attrs.dump()[1:]  # signed attributes are signed as a SET OF, not [0]
    public = signer_cert.public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signer["signature"].native, to_verify, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signer["signature"].native, to_verify, ec.ECDSA(hashes.SHA256()))
        else:
            raise ProtectionError("malformed", "unsupported signing key")
    except InvalidSignature:
        raise ProtectionError("tampered", "the signature does not verify") from None
