"""`gateway verify`: what a subscriber runs to decrypt a delivered payload and check its signature."""

from __future__ import annotations

import argparse
import base64
import binascii
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.protection import cms


def _bytes_maybe_base64(raw: bytes) -> bytes:
    try:
        return base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        return raw


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("verify", help="decrypt (if needed) and verify a delivered payload")
    p.add_argument(
        "--body", type=Path, required=True, help="the delivered body (JSON, or base64 CMS if encrypted)"
    )
    p.add_argument(
        "--signature",
        type=Path,
        required=True,
        help="the gateway-cms-signature header's value (base64) or DER",
    )
    p.add_argument("--trust", type=Path, required=True, help="the gateway's signing certificate (PEM)")
    p.add_argument("--decrypt-cert", type=Path, help="your certificate (PEM), for an encrypted body")
    p.add_argument("--decrypt-key", type=Path, help="your private key (PEM), for an encrypted body")
    p.add_argument("--out", type=Path, help="write the verified payload here (default: standard output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        trusted = x509.load_pem_x509_certificate(args.trust.read_bytes())
        body = args.body.read_bytes()
        if args.decrypt_cert or args.decrypt_key:
            if not (args.decrypt_cert and args.decrypt_key):
                print("verify: --decrypt-cert and --decrypt-key go together", file=sys.stderr)
                return 2
            key = serialization.load_pem_private_key(args.decrypt_key.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                print("verify: wrong-key: the decryption key must be RSA", file=sys.stderr)
                return 1
            body = cms.decrypt(
                _bytes_maybe_base64(body), x509.load_pem_x509_certificate(args.decrypt_cert.read_bytes()), key
            )
        cms.verify(body, _bytes_maybe_base64(args.signature.read_bytes()), trusted)
    except cms.ProtectionError as exc:
        print(f"verify: {exc}", file=sys.stderr)  # the text starts with the code
        return 1
    except (OSError, ValueError) as exc:
        print(f"verify: cannot read input ({type(exc).__name__})", file=sys.stderr)
        return 2
    if args.out:
        args.out.write_bytes(body)
    else:
        sys.stdout.buffer.write(body)
    print("verify: ok", file=sys.stderr)
    return 0
